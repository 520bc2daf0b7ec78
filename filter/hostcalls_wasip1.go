//go:build wasip1 && !tinygo

package main

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/filter/internal/bridge"
	"github.com/apiguard/apiguard/policy"
)

// Host calls of every request made straight through the bridge: the SDK's
// own functions pass their out-parameters to the host through an
// interface, so that they escape to the heap, two allocations per call.

// mapTypeRequestHeaders is proxy-wasm's MapType of the request headers.
const mapTypeRequestHeaders = 0

// headerPairs holds the request headers of the current callback. One slice
// per VM, as callbacks never overlap: nothing keeps the slice past the
// request-headers callback (the strings are views of the host's answer,
// which is never handed out again, and may be kept).
var headerPairs policy.HeaderList

// maxKeptPairs bounds the header slice kept between requests.
const maxKeptPairs = 256

// errMalformedPairs is the error of a header map the host serialized
// wrongly.
var errMalformedPairs = errors.New("malformed header map from the host")

// readRequestHeaders returns the request headers. The result is valid until
// the next call.
func readRequestHeaders() (policy.HeaderList, error) {
	raw, st := bridge.HeaderMapPairs(mapTypeRequestHeaders)
	if st != 0 {
		return nil, statusError(st)
	}
	if cap(headerPairs) > maxKeptPairs {
		headerPairs = nil
	}
	h, ok := decodePairs(headerPairs[:0], raw)
	if !ok {
		return nil, errMalformedPairs
	}
	headerPairs = h
	return h, nil
}

// decodePairs appends the pairs of a serialized header map (a count, the
// sizes of each name and value, then each name and value followed by a NUL
// byte) to h as views of b. ok is false when b is not such a map.
func decodePairs(h policy.HeaderList, b []byte) (_ policy.HeaderList, ok bool) {
	if len(b) < 4 {
		return h, false
	}
	n := int(binary.LittleEndian.Uint32(b))
	sizes, data := 4, 4+8*n
	if n > len(b)/8 || data > len(b) {
		return h, false
	}
	for range n {
		ks := int(binary.LittleEndian.Uint32(b[sizes:]))
		vs := int(binary.LittleEndian.Uint32(b[sizes+4:]))
		sizes += 8
		if data+ks+1+vs > len(b) { // sizes are below 2^32: no overflow
			return h, false
		}
		k := unsafe.String(unsafe.SliceData(b[data:]), ks)
		data += ks + 1
		v := unsafe.String(unsafe.SliceData(b[data:]), vs)
		data += vs + 1
		h = append(h, [2]string{k, v})
	}
	return h, true
}

// getSharedData reads the shared-data value at key (a view of key's
// memory will do: the host copies it) and its CAS token.
func getSharedData(key string) ([]byte, uint32, error) {
	v, cas, st := bridge.SharedData(unsafe.Slice(unsafe.StringData(key), len(key)))
	if st != 0 {
		return nil, 0, statusError(st)
	}
	return v, cas, nil
}

// statusError is the SDK's error for a proxy-wasm status other than OK
// (internal.StatusToError).
func statusError(st uint32) error {
	switch st {
	case 1:
		return types.ErrorStatusNotFound
	case 2:
		return types.ErrorStatusBadArgument
	case 7:
		return types.ErrorStatusEmpty
	case 8:
		return types.ErrorStatusCasMismatch
	case 10:
		return types.ErrorInternalFailure
	case 12:
		return types.ErrorUnimplemented
	}
	return errors.New("unknown status code: " + strconv.Itoa(int(st)))
}
