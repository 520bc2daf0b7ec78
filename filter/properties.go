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
	if isDottedQuad(host) {
		return host
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return ""
	}
	return host
}

// isDottedQuad reports whether s is an IPv4 address in the form
// netip.ParseAddr accepts (four fields of 0 to 255, no leading zeros), in
// one loop: the usual source address, checked without netip's calls. A
// false answer leaves the decision to netip.ParseAddr.
func isDottedQuad(s string) bool {
	fields, digits, v := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || fields == 4 {
				return false
			}
			fields, digits, v = fields+1, 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || digits > 0 && v == 0 {
			return false // not a digit, or after a leading zero
		}
		v = v*10 + int(c-'0')
		digits++
		if v > 255 {
			return false
		}
	}
	return fields == 4
}
