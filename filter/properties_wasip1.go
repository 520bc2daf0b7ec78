//go:build wasip1 && !tinygo

package main

import (
	"unsafe"

	"github.com/apiguard/apiguard/filter/internal/bridge"
)

// property reads a property straight through the bridge: no path
// serialization and no allocation per call.
func property(path []byte) ([]byte, bool) {
	v, st := bridge.Property(path)
	return v, st == 0
}

// hostCopied returns b as a string for a host call that copies it before
// returning (Envoy copies header values into its own header map): in the
// module, a view of b, so that reusing b costs no allocation.
func hostCopied(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
