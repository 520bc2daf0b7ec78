// Pagination at request time: checking the pagination parameters of a
// query against a profile, and writing the query sent upstream.

package policy

import (
	"strconv"
	"time"
)

// pageResult is the outcome of checking a query against a profile.
type pageResult struct {
	detail string // non-empty: bad_pagination with this detail
	// clamped[kind] >= 0: replace the value of that parameter.
	clamped    [numParamKinds]int64
	anyClamped bool
	addDefault bool
	// cursor is the back end's cursor opened from a sealed one, to send
	// upstream in its place when unsealed.
	cursor   string
	unsealed bool
}

// sealContext is who asks, for opening a sealed cursor; a zero one (shadow
// mode) opens nothing.
type sealContext struct {
	open            bool
	route, consumer string
	now             time.Time
}

// check validates the pagination parameters of query. It does not allocate
// unless a parameter value is percent-encoded.
func (p *profile) check(query string, credParams []string, sc *sealContext) pageResult {
	var res pageResult
	for i := range res.clamped {
		res.clamped[i] = -1
	}
	var seen [numParamKinds]bool
	for q, more := query, query != ""; more; {
		var key, value string
		_, key, value, q, more = nextPair(q)
		kind := paramKind(key, credParams, p)
		if kind < paramLimit {
			continue
		}
		if seen[kind] {
			res.detail = p.repeatedDetail[kind]
			return res
		}
		seen[kind] = true
		if kind == paramCursor {
			if len(value) > p.maxCursorLength {
				res.detail = p.cursorDetail
				return res
			}
			if p.seal != nil && sc.open {
				v, ok := decodeComponent(value)
				if ok {
					res.cursor, ok = p.seal.Open(v, sc.route, sc.consumer, sc.now)
				}
				if !ok {
					res.detail = p.seal.detail
					return res
				}
				res.unsealed = true
			}
			continue
		}
		v, ok := decodeComponent(value)
		if !ok {
			res.detail = p.notIntegerDetail[kind]
			return res
		}
		// Only a well-formed value over the maximum may be clamped: anything
		// else is 400 whatever on_violation says.
		n, ok := parsePlainUint(v)
		switch {
		case !ok:
			res.detail = p.notIntegerDetail[kind]
			return res
		case n < p.minOf(kind):
			res.detail = p.tooSmallDetail[kind]
			return res
		case n > p.maxOf(kind):
			if !p.clamp {
				res.detail = p.tooLargeDetail[kind]
				return res
			}
			res.clamped[kind], res.anyClamped = p.maxOf(kind), true
		}
	}
	// At most one position parameter: a back end that adds page and offset
	// (or resolves a cursor and then skips) would reach past every maximum.
	for a := paramOffset; a <= paramCursor; a++ {
		for b := a + 1; b <= paramCursor; b++ {
			if seen[a] && seen[b] {
				res.detail = p.comboDetail[a][b]
				return res
			}
		}
	}
	res.addDefault = p.defaultPair != "" && !seen[paramLimit]
	return res
}

// queryEscape percent-encodes everything but unreserved characters.
func queryEscape(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if !isUnreserved(s[i]) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	b := make([]byte, 0, 3*len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; isUnreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return string(b)
}

// paramKind classifies a raw query key: one of the credential parameters,
// one of the profile's parameters (prof may be nil), or paramNone. Every
// spelling keyNames accepts counts as the parameter.
func paramKind(key string, credParams []string, prof *profile) int {
	for _, name := range credParams {
		if mayName(key, name) && keyNames(key, name) {
			return paramCredential
		}
	}
	if prof != nil {
		for kind := paramLimit; kind < numParamKinds; kind++ {
			if name := prof.names[kind]; name != "" && mayName(key, name) && keyNames(key, name) {
				return kind
			}
		}
	}
	return paramNone
}

// mayName is false when the raw query key cannot be a spelling of name
// (keyNames): its first byte can spell name's only as itself, an escape or
// '+'. It rules most keys out at the cost of a comparison, where keyNames
// is a call, which costs in the filter's module.
func mayName(raw, name string) bool {
	return name == "" || raw != "" && (raw[0] == name[0] || raw[0] == '%' || raw[0] == '+')
}

// appendQuery appends to b the query without the credential parameters
// (when dropCred), with clamped pagination values replaced and the default
// limit appended, keeping every other pair intact and in order.
func appendQuery(b []byte, query string, credParams []string, dropCred bool, prof *profile, pr *pageResult) []byte {
	start := len(b)
	sep := byte('&') // the separator before the current pair, kept as sent
	for q, more := query, query != ""; more; {
		var pair, key string
		rest := q
		pair, key, _, q, more = nextPair(q)
		next := byte('&')
		if more {
			next = rest[len(pair)]
		}
		kind := paramKind(key, credParams, prof)
		if kind == paramCredential && dropCred {
			sep = next
			continue
		}
		if len(b) > start {
			b = append(b, sep)
		}
		sep = next
		if kind == paramCursor && pr != nil && pr.unsealed {
			b = append(b, key...)
			b = append(b, '=')
			b = append(b, queryEscape(pr.cursor)...)
			continue
		}
		if kind >= paramLimit && pr != nil && pr.clamped[kind] >= 0 {
			b = append(b, key...)
			b = append(b, '=')
			b = strconv.AppendInt(b, pr.clamped[kind], 10)
			continue
		}
		b = append(b, pair...)
	}
	if pr != nil && pr.addDefault {
		if len(b) > start {
			b = append(b, '&')
		}
		b = append(b, prof.defaultPair...)
	}
	return b
}
