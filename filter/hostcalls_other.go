//go:build !wasip1 || tinygo

package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/policy"
)

// readRequestHeaders returns the request headers through the SDK (the native
// test runner).
func readRequestHeaders() (policy.HeaderList, error) {
	h, err := proxywasm.GetHttpRequestHeaders()
	return policy.HeaderList(h), err
}

// getSharedData reads the shared-data value at key and its CAS token
// through the SDK.
func getSharedData(key string) ([]byte, uint32, error) { return proxywasm.GetSharedData(key) }

// sendLocal answers the request with status, the serialized header map
// headers (appendHeaderMap) and body, through the SDK.
func sendLocal(status uint32, headers, body []byte) error {
	pairs, ok := decodePairs(nil, headers)
	if !ok {
		return errMalformedPairs
	}
	return proxywasm.SendHttpResponse(status, pairs, body, -1)
}

// replaceRequestHeader sets the request header key to value through the
// SDK.
func replaceRequestHeader(key, value string) error {
	return proxywasm.ReplaceHttpRequestHeader(key, value)
}

// removeRequestHeader removes the request header key through the SDK.
func removeRequestHeader(key string) error { return proxywasm.RemoveHttpRequestHeader(key) }

// replaceResponseHeader sets the response header key to value through the
// SDK.
func replaceResponseHeader(key, value string) error {
	return proxywasm.ReplaceHttpResponseHeader(key, value)
}

// setSharedData writes the shared-data value at key if its CAS token is
// still cas, through the SDK.
func setSharedData(key string, value []byte, cas uint32) error {
	return proxywasm.SetSharedData(key, value, cas)
}
