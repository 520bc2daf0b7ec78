package main

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"github.com/apiguard/apiguard/policy"
)

// errMalformedPairs is the error of a serialized header map that is not
// one.
var errMalformedPairs = errors.New("malformed header map")

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

// mapHolds reports whether the serialized header map m holds, after its
// first skip pairs, exactly pairs.
func mapHolds(m []byte, skip int, pairs [][2]string) bool {
	if len(m) < 4 || int(binary.LittleEndian.Uint32(m)) != skip+len(pairs) {
		return false
	}
	data := 4 + 8*(skip+len(pairs))
	for i := range skip + len(pairs) {
		ks := int(binary.LittleEndian.Uint32(m[4+8*i:]))
		vs := int(binary.LittleEndian.Uint32(m[8+8*i:]))
		if i >= skip {
			kv := &pairs[i-skip]
			if len(kv[0]) != ks || len(kv[1]) != vs || string(m[data:data+ks]) != kv[0] ||
				string(m[data+ks+1:data+ks+1+vs]) != kv[1] {
				return false
			}
		}
		data += ks + vs + 2
	}
	return true
}
