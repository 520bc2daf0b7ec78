package policy

// One pass over the query of a request: findCredentials classifies each
// pair once (a credential parameter, a pagination parameter of the route's
// profile, or neither) and records the pairs that matter, so that the
// pagination check and the rewrite read the record instead of walking and
// classifying the query again.

// Room in a queryScan: every pagination parameter (each may appear once,
// a second is refused) and this many credential parameters.
const (
	scanCredPairs = 4
	scanPairs     = scanCredPairs + numParamKinds - paramLimit
)

// scanPair is a pair of the query that the policy reads.
type scanPair struct {
	kind uint8 // paramCredential or a pagination kind
	// plainValue: the value has no '%' or '+', and so is its own decoding.
	plainValue bool
	// The pair is query[start:end], its key query[start:eq]; eq == end
	// when the pair has no '='.
	start, eq, end int
}

// queryScan is what the pass over a query found.
type queryScan struct {
	query string
	pairs [scanPairs]scanPair // in query order
	n     int
	creds int // credential pairs among pairs
	// overflow: a credential parameter found no room in pairs; the
	// rewrite then classifies the pairs again (appendQuery).
	overflow bool
	// repeated is the first pagination kind to appear a second time;
	// nothing after it is recorded (the check refuses it there).
	repeated uint8
}

// value returns the raw value of the pair.
func (s *queryScan) value(sp *scanPair) string {
	if sp.eq == sp.end {
		return ""
	}
	return s.query[sp.eq+1 : sp.end]
}

// scanQuery walks the pairs of query once, counting the credential
// parameters into c and recording in c.scan the pairs the pagination check
// and the rewrite need. Both '&' and ';' separate pairs (nextPair says
// why); every spelling keyNames accepts counts as the parameter.
func (p *Policy) scanQuery(c *credentials, query string, prof *profile) {
	s := &c.scan
	s.query = query
	var seen uint
	for start := 0; ; {
		end, eq := start, -1
		plainKey, plainValue := true, true
		for ; end < len(query); end++ {
			ch := query[end]
			if ch == '&' || ch == ';' {
				break
			}
			switch {
			case eq >= 0:
				plainValue = plainValue && ch != '%' && ch != '+'
			case ch == '=':
				eq = end
			case ch == '%' || ch == '+' || ch == '[':
				plainKey = false
			}
		}
		if eq < 0 {
			eq = end
		}
		if kind := p.classify(query[start:eq], plainKey, prof); kind == paramCredential {
			if c.count == 0 {
				c.value, c.fromQuery = query[min(eq+1, end):end], true
			}
			c.count++
			c.queryCount++
			if s.creds < scanCredPairs {
				s.creds++
				s.add(kind, plainValue, start, eq, end)
			} else {
				s.overflow = true
			}
		} else if kind >= paramLimit && s.repeated == 0 {
			if seen&(1<<kind) != 0 {
				s.repeated = uint8(kind)
			} else {
				seen |= 1 << kind
				s.add(kind, plainValue, start, eq, end)
			}
		}
		if end == len(query) {
			return
		}
		start = end + 1
	}
}

// add records a pair.
func (s *queryScan) add(kind int, plainValue bool, start, eq, end int) {
	s.pairs[s.n] = scanPair{kind: uint8(kind), plainValue: plainValue, start: start, eq: eq, end: end}
	s.n++
}

// classify is paramKind for the raw key of a pair. A plain key (no '%',
// '+' or '[') spells a name only as the name itself, which is compared
// here without a call; any other goes through paramKind.
func (p *Policy) classify(key string, plain bool, prof *profile) int {
	if !plain {
		return paramKind(key, p.queryParams, prof)
	}
	for _, name := range p.queryParams {
		if len(name) == len(key) && name == key {
			return paramCredential
		}
	}
	if prof != nil {
		for kind := paramLimit; kind < numParamKinds; kind++ {
			if name := prof.names[kind]; name != "" && len(name) == len(key) && name == key {
				return kind
			}
		}
	}
	return paramNone
}

// appendEdited appends to b the query without the credential parameters
// (when dropCred), with the clamped values and the opened cursor of pr
// (may be nil) in place, keeping every other pair as sent: exactly what
// appendQuery writes, from the record instead of a second pass. The
// separator before a kept pair is the one before it in the query; the
// empty pairs before the first pair written are dropped with theirs.
func (s *queryScan) appendEdited(b []byte, dropCred bool, pr *pageResult) []byte {
	start, q, at := len(b), s.query, 0
	for i := 0; i < s.n; i++ {
		sp := &s.pairs[i]
		kind := int(sp.kind)
		replace := kind >= paramLimit && pr != nil && (pr.clampMask&(1<<kind) != 0 || kind == paramCursor && pr.unsealed)
		if !replace && (kind != paramCredential || !dropCred) {
			continue
		}
		if sp.start > at {
			b = appendRun(b, start, q, at, sp.start-1)
		}
		at = sp.end + 1
		if !replace {
			continue
		}
		if len(b) > start {
			b = append(b, q[sp.start-1])
		}
		b = append(b, q[sp.start:sp.eq]...)
		b = append(b, '=')
		if kind == paramCursor {
			b = append(b, queryEscape(pr.cursor)...)
		} else {
			b = appendUint(b, pr.clamped[kind])
		}
	}
	if at <= len(q) {
		b = appendRun(b, start, q, at, len(q))
	}
	return b
}

// appendRun appends the pairs q[from:to], kept as sent: after the
// separator before them when b already has a pair past start, else without
// their leading empty pairs.
func appendRun(b []byte, start int, q string, from, to int) []byte {
	if len(b) > start {
		b = append(b, q[from-1])
	} else {
		for from < to && (q[from] == '&' || q[from] == ';') {
			from++
		}
	}
	return append(b, q[from:to]...)
}

// appendUint appends the decimal digits of n >= 0.
func appendUint(b []byte, n int64) []byte {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			break
		}
	}
	return append(b, buf[i:]...)
}
