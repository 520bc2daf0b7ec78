//go:build wasip1 && !tinygo

package bridge

import "unsafe"

// Property reads the property at path, already serialized as the ABI wants
// it (segments joined by NUL bytes), without the SDK's serialization of the
// path on every call. The value is a view of memory handed out by the
// allocator, which is never handed out again: it stays valid and unchanged.
// status is the proxy-wasm status (0 OK, 1 not found ...).
func Property(path []byte) (value []byte, status uint32) {
	if len(path) == 0 {
		return nil, 2 // BadArgument
	}
	reserve(0)
	st := imGetProperty(&path[0], int32(len(path)), &outAddr, &outSize)
	var p *byte
	var n int
	if st = returned(st, &p, &n); st != statusOK || n == 0 {
		return nil, st
	}
	return unsafe.Slice(p, n), statusOK
}
