package main

import (
	"encoding/binary"
	"strings"
	"time"
	"unsafe"
)

// The properties a request reads, serialized once as the ABI wants them
// (path segments joined by NUL bytes).
var (
	propRequestTime   = []byte("request\x00time")
	propSourceAddress = []byte("source\x00address")
)

// requestTime is when Envoy received the request (the request.time property,
// int64 nanoseconds since the epoch in host byte order, little-endian on
// every platform Envoy supports), falling back to the VM's clock.
func requestTime() time.Time {
	if b, ok := property(propRequestTime); ok && len(b) == 8 {
		return time.Unix(0, int64(binary.LittleEndian.Uint64(b)))
	}
	return time.Now()
}

// clientIP is the downstream peer's IP without the port (source.address is
// "ip:port", or "[v6]:port"). The string shares the property's memory,
// which property never hands out twice.
func clientIP() string {
	b, ok := property(propSourceAddress)
	if !ok || len(b) == 0 {
		return ""
	}
	addr := unsafe.String(&b[0], len(b))
	if strings.HasPrefix(addr, "[") {
		if i := strings.IndexByte(addr, ']'); i > 0 {
			return addr[1:i]
		}
		return ""
	}
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && strings.IndexByte(addr, ':') == i {
		return addr[:i]
	}
	return addr
}
