//go:build wasm || amd64 || arm64 || 386

package accesslog

import "unsafe"

// load64 reads s[i:i+8] as a little-endian word (i+8 <= len(s)) in one
// load: these ports allow a load at any address.
func load64(s string, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), i))
}
