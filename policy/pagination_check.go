// Pagination at request time: checking the pagination parameters of a
// query against a profile, and writing the query sent upstream.

package policy

import (
	"time"
	"unsafe"
)

// pageResult is the outcome of checking a query against a profile.
type pageResult struct {
	detail string // non-empty: bad_pagination with this detail
	// clamped[kind] replaces the value of that parameter when bit kind of
	// clampMask is set.
	clamped    [numParamKinds]int64
	clampMask  uint
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

// check validates the pagination parameters that the scan of the query
// (scanQuery, with this profile) recorded, in the order they came. It does
// not allocate unless a parameter value is percent-encoded.
func (p *profile) check(s *queryScan, sc *sealContext) pageResult {
	var res pageResult
	var seen [numParamKinds]bool
	for i := 0; i < s.n; i++ {
		sp := &s.pairs[i]
		kind := int(sp.kind)
		if kind < paramLimit {
			continue
		}
		seen[kind] = true
		value := s.value(sp)
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
		v, ok := value, true
		if !sp.plainValue {
			v, ok = decodeComponent(value)
		}
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
			res.clamped[kind] = p.maxOf(kind)
			res.clampMask |= 1 << kind
		}
	}
	if s.repeated != 0 {
		res.detail = p.repeatedDetail[s.repeated]
		return res
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
// (when dropCred), with clamped pagination values replaced, keeping every
// other pair intact and in order. It classifies every pair again: the
// rewrite uses it only when the scan had no room for every credential
// parameter (queryScan.overflow); appendEdited writes the same from the
// record.
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
		if kind >= paramLimit && pr != nil && pr.clampMask&(1<<kind) != 0 {
			b = append(b, key...)
			b = append(b, '=')
			b = appendUint(b, pr.clamped[kind])
			continue
		}
		b = append(b, pair...)
	}
	return b
}

// rewrite checks pagination and computes the new :path, "" when unchanged.
// A non-empty detail means bad_pagination. cred holds the scan of query
// with prof (findCredentials).
func (p *Policy) rewrite(buf []byte, norm, rawPath, query string, hasQuery bool, prof *profile, cred *credentials, sc *sealContext) (newPath, detail string) {
	var pr *pageResult
	if prof != nil {
		if newPath, ok := p.rewritePlain(buf, norm, rawPath, prof, cred); ok {
			return newPath, ""
		}
		res := prof.check(&cred.scan, sc)
		if res.detail != "" {
			return "", res.detail
		}
		pr = &res
	}
	dropCred := p.hide && cred.queryCount > 0
	if !dropCred && (pr == nil || pr.clampMask == 0 && !pr.addDefault && !pr.unsealed) {
		if norm == rawPath {
			return "", ""
		}
		if hasQuery {
			b := append(pathBuffer(buf, len(norm)+1+len(query)), norm...)
			b = append(append(b, '?'), query...)
			return unsafe.String(unsafe.SliceData(b), len(b)), ""
		}
		return norm, ""
	}
	// The new path in one buffer: norm, "?", then the query, unless it
	// comes out empty. Nothing writes b after it becomes the string (the
	// caller's buffer: not while the caller uses the decision).
	b := pathBuffer(buf, len(norm)+len(query)+24)
	b = append(append(b, norm...), '?')
	start := len(b)
	if dropCred && cred.scan.overflow {
		b = appendQuery(b, query, p.queryParams, true, prof, pr)
	} else {
		b = cred.scan.appendEdited(b, dropCred, pr)
	}
	if pr != nil && pr.addDefault {
		if len(b) > start {
			b = append(b, '&')
		}
		b = append(b, prof.defaultPair...)
	}
	if len(b) == start {
		return norm, ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), ""
}

// pathBuffer returns buf emptied when it has room for n bytes (a new :path
// written into the caller's buffer, Request.PathBuffer), else a new slice
// of that capacity. The path may still outgrow it; append then moves it.
func pathBuffer(buf []byte, n int) []byte {
	if cap(buf) >= n {
		return buf[:0]
	}
	return make([]byte, 0, n)
}

// rewritePlain is rewrite, check included, for the common query of a
// paginated route: its recorded pairs are numeric pagination parameters
// with plain values within their bounds or over a maximum to clamp, none
// repeated, at most one position parameter, no credential parameter and
// no default limit to add. ok is false for any other query, which the
// general check and rewrite answer; where ok is true they give the same
// answer (the reference tests in query_scan_test.go run both). It exists
// because the general code, whose every case a request of this shape
// skips, costs the clamped request several times its work in the module.
func (p *Policy) rewritePlain(buf []byte, norm, rawPath string, prof *profile, cred *credentials) (newPath string, ok bool) {
	s := &cred.scan
	if s.repeated != 0 || s.overflow || cred.queryCount > 0 {
		return "", false
	}
	var seen, clamp uint
	var clamped [numParamKinds]int64
	for i := 0; i < s.n; i++ {
		sp := &s.pairs[i]
		kind := int(sp.kind)
		if kind < paramLimit || kind == paramCursor || !sp.plainValue {
			return "", false
		}
		seen |= 1 << kind
		v, ok := parsePlainUint(s.value(sp))
		if !ok || v < prof.minOf(kind) {
			return "", false
		}
		if top := prof.maxOf(kind); v > top {
			if !prof.clamp {
				return "", false
			}
			clamped[kind] = top
			clamp |= 1 << kind
		}
	}
	if seen&(1<<paramOffset) != 0 && seen&(1<<paramPage) != 0 || prof.defaultPair != "" && seen&(1<<paramLimit) == 0 {
		return "", false
	}
	q := s.query
	if clamp == 0 {
		return "", norm == rawPath
	}
	if q[0] == '&' || q[0] == ';' {
		return "", false // leading empty pairs: the general rewrite drops them
	}
	// Clamped values are never longer than the values they replace (plain
	// digits, no leading zero, over the maximum).
	b := append(pathBuffer(buf, len(norm)+1+len(q)), norm...)
	b = append(b, '?')
	at := 0
	for i := 0; i < s.n; i++ {
		sp := &s.pairs[i]
		if clamp&(1<<sp.kind) == 0 {
			continue
		}
		b = append(b, q[at:sp.eq+1]...)
		b = appendUint(b, clamped[sp.kind])
		at = sp.end
	}
	b = append(b, q[at:]...)
	return unsafe.String(unsafe.SliceData(b), len(b)), true
}
