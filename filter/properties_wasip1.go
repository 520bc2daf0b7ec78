//go:build wasip1 && !tinygo

package main

import (
	"strconv"
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

// pathBuffer returns the buffer a new :path is written into
// (pluginContext.path): the host copies the header value, so the next
// request may write it again. Longer paths get memory of their own.
func pathBuffer() []byte { return make([]byte, 0, 1024) }

// setProperty sets the one-segment property key to value straight through
// the bridge: the host copies both, so views of the strings do (no
// allocation).
func setProperty(key, value string) error {
	st := bridge.SetProperty(key, value)
	if st != 0 {
		return hostStatus(st)
	}
	return nil
}

// hostStatus is a proxy-wasm status other than OK.
type hostStatus uint32

func (s hostStatus) Error() string { return "proxy-wasm status " + strconv.Itoa(int(s)) }
