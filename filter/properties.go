package main

import (
	"encoding/binary"
	"net/netip"
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

// clientIP is the downstream client's IP without the port, or "" when
// source.address is missing or not an IP address. Envoy gives "ip:port" or
// "[v6]:port" for TCP peers; on an internal listener it gives
// "envoy://internal_client_address/", and for a Unix socket a path: all
// such requests share one anonymous bucket (policy hashes "" to one slot),
// which limits them together rather than not at all. The string shares the
// property's memory, which property never hands out twice.
func clientIP() string {
	b, ok := property(propSourceAddress)
	if !ok || len(b) == 0 {
		return ""
	}
	return hostOf(unsafe.String(&b[0], len(b)))
}

// hostOf returns the IP address of an "ip:port", "[v6]:port", or bare IP,
// or "" when addr is none of these.
func hostOf(addr string) string {
	host := addr
	if strings.HasPrefix(addr, "[") {
		i := strings.IndexByte(addr, ']')
		if i < 0 {
			return ""
		}
		host = addr[1:i]
	} else if i := strings.LastIndexByte(addr, ':'); i >= 0 && strings.IndexByte(addr, ':') == i {
		host = addr[:i]
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return ""
	}
	return host
}
