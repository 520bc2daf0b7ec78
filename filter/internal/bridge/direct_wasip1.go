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
	return view(p, n), statusOK
}

// HeaderMapPairs reads the header map mapType (proxy-wasm MapType) as the
// host serializes it, without the SDK's out-parameters, which escape to
// the heap on every call (two allocations). The pairs are a view of memory
// handed out by the allocator, as Property's value. An empty answer is
// status 1 (not found), as the SDK reports it.
func HeaderMapPairs(mapType uint32) (pairs []byte, status uint32) {
	reserve(largestPairs)
	st := imGetHeaderMapPairs(mapType, &outAddr, &outSize)
	largestPairs = max(largestPairs, int(outSize))
	var p *byte
	var n int
	if st = returned(st, &p, &n); st != statusOK {
		return nil, st
	}
	if p == nil {
		return nil, 1 // NotFound
	}
	return view(p, n), statusOK
}

// outCas receives proxy_get_shared_data's CAS token (see outAddr).
var outCas uint32

// SharedData reads the shared-data value at key and its CAS token, without
// the SDK's out-parameters, which escape to the heap on every call. A view
// of key's memory will do: the host copies it. The value is a view of
// memory handed out by the allocator, as Property's.
func SharedData(key string) (value []byte, cas uint32, status uint32) {
	reserve(0)
	st := imGetSharedData(ptr(key), int32(len(key)), &outAddr, &outSize, &outCas)
	cas, outCas = outCas, 0
	var p *byte
	var n int
	if st = returned(st, &p, &n); st != statusOK {
		return nil, 0, st
	}
	if n == 0 {
		return nil, cas, statusOK
	}
	return view(p, n), cas, statusOK
}

// SendLocalResponse answers the request with status, headers already
// serialized as a header map and body, without the SDK's serialization
// of the headers on every call. Envoy copies both; the SDK's emulator keeps
// views of them, so the caller must not change them afterwards.
func SendLocalResponse(status uint32, headers, body []byte) uint32 {
	var h, b *byte
	if len(headers) > 0 {
		h = &headers[0]
	}
	if len(body) > 0 {
		b = &body[0]
	}
	return imSendLocalResponse(status, nil, 0, b, int32(len(body)), h, int32(len(headers)), -1)
}

// ptr returns the address of s's bytes, nil for an empty s (as the SDK's
// StringBytePtr).
func ptr(s string) *byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.StringData(s)
}

// ReplaceHeader sets the header key of the header map mapType to value,
// without the SDK's wrappers and its dispatch through an interface. The
// host copies both strings before it returns. status is the proxy-wasm
// status.
func ReplaceHeader(mapType uint32, key, value string) uint32 {
	// unsafe.StringData is nil for "" (the SDK's StringBytePtr's answer)
	// or an address the host reads nothing at.
	return imReplaceHeaderMapValue(mapType, unsafe.StringData(key), int32(len(key)), unsafe.StringData(value), int32(len(value)))
}

// RemoveHeader removes the header key from the header map mapType, as
// ReplaceHeader calls the host.
func RemoveHeader(mapType uint32, key string) uint32 {
	return imRemoveHeaderMapValue(mapType, ptr(key), int32(len(key)))
}

// SetSharedData writes the shared-data value at key if its CAS token is
// still cas (0: unconditionally), as ReplaceHeader calls the host. The
// host copies key and value. status is the proxy-wasm status (8: CAS
// mismatch).
func SetSharedData(key string, value []byte, cas uint32) uint32 {
	return imSetSharedData(unsafe.StringData(key), int32(len(key)), unsafe.SliceData(value), int32(len(value)), cas)
}

// SetProperty sets the property at path, already serialized as the ABI
// wants it, to value, without the SDK's serialization of the path and its
// refusal of an empty value. The host copies both before it returns (Envoy
// into a filter-state object), so views of the strings will do. status is
// the proxy-wasm status (0 OK, 1 not found ...).
func SetProperty(path, value string) uint32 {
	if len(path) == 0 {
		return 2 // BadArgument
	}
	return imSetProperty(ptr(path), int32(len(path)), ptr(value), int32(len(value)))
}

// maxView bounds view's length: linear memory is 32-bit.
const maxView = 1 << 31

// view is the n bytes at p as a slice, as unsafe.Slice(p, n) but without
// its runtime call (Go's wasm code calls a function to check the size's
// multiplication even for bytes).
func view(p *byte, n int) []byte {
	if n > maxView {
		return unsafe.Slice(p, n)
	}
	return (*[maxView]byte)(unsafe.Pointer(p))[:n:n]
}
