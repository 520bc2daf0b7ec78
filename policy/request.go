package policy

import "time"

// HeaderList holds request headers as name/value pairs, for example the
// header map handed over by proxy-wasm. Names are compared
// case-insensitively.
type HeaderList [][2]string

// Get returns the first value of the header whose lower-case name is name,
// and how many times the header occurs.
func (l HeaderList) Get(name string) (value string, count int) {
	for _, h := range l {
		// The length first: a call costs more than the comparison in
		// the module, and most names differ in length.
		if len(h[0]) == len(name) && equalFoldASCII(h[0], name) {
			if count == 0 {
				value = h[1]
			}
			count++
		}
	}
	return value, count
}

// Request is what Decide needs to know about one HTTP request.
type Request struct {
	// Method is the :method pseudo-header. Methods are case-sensitive
	// (RFC 9110): "get" does not match a route restricted to "GET".
	Method string
	// Path is the :path pseudo-header exactly as received, with the query.
	Path string
	// Headers are the request headers; nil means none. Decide only reads
	// them and does not keep them.
	Headers HeaderList
	// ClientIP is the client address without port; it may be empty.
	ClientIP string
	// Now is the time of the request. The policy never reads a clock.
	Now time.Time
	// PathBuffer, when it has the room, is where a new :path is written:
	// Decision.Upstream.NewPath then shares its memory, and holds only
	// until the caller writes the buffer again (the filter hands the path
	// to a host call that copies it, and reuses the buffer on the next
	// request). nil, or too small: NewPath has memory of its own.
	PathBuffer []byte
}

// equalFoldASCII reports whether a and b are equal under ASCII case folding.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// SameHeaderName reports whether two header names name the same header for
// a common back end: equal under ASCII case folding with '_' and '-' taken
// as one character, since CGI, WSGI, Rack and PHP map both to '_'
// (x_apiguard_consumer reaches them as X-Apiguard-Consumer).
func SameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		} else if ca == '_' {
			ca = '-'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		} else if cb == '_' {
			cb = '-'
		}
		if ca != cb {
			return false
		}
	}
	return true
}
