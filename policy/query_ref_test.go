package policy

import "strconv"

// The query code as it was before the one-pass scan (query_scan.go): the
// credential scan, the pagination check and the rewrite each walking the
// query and classifying its pairs with paramKind. The differential tests
// (query_scan_test.go) hold the scan to what these decide.

// refResult is what the reference makes of one query.
type refResult struct {
	count    int    // credential parameters
	value    string // the first one's raw value
	detail   string // bad_pagination
	newQuery string // the query sent upstream
	edit     bool   // whether the query is rewritten
	unsealed bool
}

// refPageResult is the reference check's result.
type refPageResult struct {
	detail     string
	clamped    [numParamKinds]int64
	anyClamped bool
	addDefault bool
	cursor     string
	unsealed   bool
}

// refQuery runs the reference over query: the credential scan, then
// (prof not nil) the check, then the rewrite of the query alone.
func refQuery(query string, credParams []string, hide bool, prof *profile, sc *sealContext) refResult {
	var r refResult
	for q, more := query, query != ""; more; {
		var key, value string
		_, key, value, q, more = nextPair(q)
		if paramKind(key, credParams, nil) != paramCredential {
			continue
		}
		if r.count == 0 {
			r.value = value
		}
		r.count++
	}
	var pr *refPageResult
	if prof != nil {
		res := refCheck(prof, query, credParams, sc)
		if res.detail != "" {
			r.detail = res.detail
			return r
		}
		pr = &res
		r.unsealed = res.unsealed
	}
	r.edit = hide && r.count > 0 || pr != nil && (pr.anyClamped || pr.addDefault || pr.unsealed)
	if r.edit {
		r.newQuery = string(refAppendQuery(nil, query, credParams, hide, prof, pr))
	}
	return r
}

// refCheck is profile.check as it was.
func refCheck(p *profile, query string, credParams []string, sc *sealContext) refPageResult {
	var res refPageResult
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

// refAppendQuery is appendQuery as it was.
func refAppendQuery(b []byte, query string, credParams []string, dropCred bool, prof *profile, pr *refPageResult) []byte {
	start := len(b)
	sep := byte('&')
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
