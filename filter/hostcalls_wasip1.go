//go:build wasip1 && !tinygo

package main

import (
	"errors"
	"strconv"

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

// getSharedData reads the shared-data value at key (a view of key's
// memory will do: the host copies it) and its CAS token.
func getSharedData(key string) ([]byte, uint32, error) {
	v, cas, st := bridge.SharedData(key)
	if st != 0 {
		return nil, 0, statusError(st)
	}
	return v, cas, nil
}

// Map types of proxy-wasm besides the request headers.
const mapTypeResponseHeaders = 2

// replaceRequestHeader sets the request header key to value straight
// through the bridge (the host copies both).
func replaceRequestHeader(key, value string) error {
	return errorOf(bridge.ReplaceHeader(mapTypeRequestHeaders, key, value))
}

// removeRequestHeader removes the request header key straight through
// the bridge.
func removeRequestHeader(key string) error {
	return errorOf(bridge.RemoveHeader(mapTypeRequestHeaders, key))
}

// replaceResponseHeader sets the response header key to value straight
// through the bridge.
func replaceResponseHeader(key, value string) error {
	return errorOf(bridge.ReplaceHeader(mapTypeResponseHeaders, key, value))
}

// setSharedData writes the shared-data value at key (views will do: the
// host copies both) if its CAS token is still cas, straight through the
// bridge.
func setSharedData(key string, value []byte, cas uint32) error {
	return errorOf(bridge.SetSharedData(key, value, cas))
}

// errorOf is nil for status OK, else statusError's error.
func errorOf(st uint32) error {
	if st == 0 {
		return nil
	}
	return statusError(st)
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

// sendLocal answers the request with status, the serialized header map
// headers (appendHeaderMap) and body.
func sendLocal(status uint32, headers, body []byte) error {
	return errorOf(bridge.SendLocalResponse(status, headers, body))
}
