// Pagination: everything about pagination profiles lives in this file, from
// reading a profile in the configuration to checking and rewriting the
// query of a request.

package policy

import (
	"strconv"
	"time"

	"github.com/tidwall/gjson"
)

// Parameter kinds recognized in a query string.
const (
	paramNone = iota
	paramCredential
	paramLimit
	paramOffset
	paramPage
	paramCursor
	numParamKinds
)

// profile is a compiled pagination profile.
type profile struct {
	name                             string
	limitParam                       string
	defaultLimit, maxLimit           int64 // defaultLimit 0: nothing added
	offsetParam                      string
	maxOffset                        int64
	pageParam                        string
	maxPage                          int64
	cursorParam                      string
	maxCursorLength                  int
	clamp                            bool
	defaultPair                      string // "limit=20", precomputed
	names                            [numParamKinds]string
	tooLargeDetail, tooSmallDetail   [numParamKinds]string
	notIntegerDetail, repeatedDetail [numParamKinds]string
	cursorDetail                     string
	// comboDetail[a][b] refuses position parameters a < b together.
	comboDetail [numParamKinds][numParamKinds]string
	// seal, when not nil, seals the cursors (cursor_seal.go).
	seal *CursorSeal
}

// maxOf returns the maximum of a numeric parameter kind.
func (p *profile) maxOf(kind int) int64 {
	switch kind {
	case paramLimit:
		return p.maxLimit
	case paramOffset:
		return p.maxOffset
	default:
		return p.maxPage
	}
}

// minOf returns the minimum of a numeric parameter kind. A limit of 0 is
// refused because many back ends read it as "no limit", a page of 0
// because back ends compute (page-1)*limit.
func (p *profile) minOf(kind int) int64 {
	if kind == paramOffset {
		return 0
	}
	return 1
}

// precompute fills the derived fields once the parameters are known.
func (p *profile) precompute() {
	p.names = [numParamKinds]string{paramLimit: p.limitParam, paramOffset: p.offsetParam, paramPage: p.pageParam, paramCursor: p.cursorParam}
	for kind := paramLimit; kind <= paramPage; kind++ {
		name := p.names[kind]
		if name == "" {
			continue
		}
		q := strconv.Quote(name)
		p.tooLargeDetail[kind] = "parameter " + q + " must be <= " + strconv.FormatInt(p.maxOf(kind), 10)
		p.tooSmallDetail[kind] = "parameter " + q + " must be >= " + strconv.FormatInt(p.minOf(kind), 10)
		p.notIntegerDetail[kind] = "parameter " + q + " must be a plain base-10 integer between " +
			strconv.FormatInt(p.minOf(kind), 10) + " and " + strconv.FormatInt(p.maxOf(kind), 10)
	}
	for kind := paramLimit; kind <= paramCursor; kind++ {
		if name := p.names[kind]; name != "" {
			p.repeatedDetail[kind] = "parameter " + strconv.Quote(name) + " must appear at most once"
		}
	}
	if p.cursorParam != "" {
		p.cursorDetail = "parameter " + strconv.Quote(p.cursorParam) + " must be at most " + strconv.Itoa(p.maxCursorLength) + " characters long"
	}
	for a := paramOffset; a <= paramCursor; a++ {
		for b := a + 1; b <= paramCursor; b++ {
			if p.names[a] != "" && p.names[b] != "" {
				p.comboDetail[a][b] = "parameters " + strconv.Quote(p.names[a]) + " and " + strconv.Quote(p.names[b]) +
					" cannot be combined: use one way to choose the position"
			}
		}
	}
	if p.limitParam != "" && p.defaultLimit > 0 {
		p.defaultPair = queryEscape(p.limitParam) + "=" + strconv.FormatInt(p.defaultLimit, 10)
	}
}

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

// Limits of the pagination fields.
const (
	maxParamValue   = 1_000_000_000_000
	maxCursorLength = 65536
)

// profileParse is a profile being read, with the paths its checks name.
type profileParse struct {
	pr                    *profile
	paths                 [numParamKinds]jsonPath
	defaultPath, sealPath jsonPath
}

// profileFields are the fields of a profile of pagination.
var profileFields = schema[profileParse]{docPath: "pagination.<name>.", docPage: "configuration.md", fields: []field[profileParse]{
	{name: "limit_param", read: readParam(paramLimit), doc: "the page-size parameter"},
	{name: "offset_param", read: readParam(paramOffset), doc: "the offset parameter"},
	{name: "page_param", read: readParam(paramPage), doc: "the page-number parameter"},
	{name: "cursor_param", read: readParam(paramCursor), doc: "the cursor parameter"},
	{name: "default_limit", read: func(ps *parser, p jsonPath, v gjson.Result, pp *profileParse) bool {
		pp.defaultPath = p
		return readNumber(&pp.pr.defaultLimit, ps, p, v, 1, maxParamValue)
	}, doc: "the page size added when the client sends none"},
	{name: "max_limit", read: func(ps *parser, p jsonPath, v gjson.Result, pp *profileParse) bool {
		return readNumber(&pp.pr.maxLimit, ps, p, v, 1, maxParamValue)
	}, doc: "the largest page size"},
	{name: "max_offset", read: func(ps *parser, p jsonPath, v gjson.Result, pp *profileParse) bool {
		return readNumber(&pp.pr.maxOffset, ps, p, v, 0, maxParamValue)
	}, doc: "the largest offset"},
	{name: "max_page", read: func(ps *parser, p jsonPath, v gjson.Result, pp *profileParse) bool {
		return readNumber(&pp.pr.maxPage, ps, p, v, 1, maxParamValue)
	}, doc: "the largest page number"},
	{name: "max_cursor_length", read: func(ps *parser, p jsonPath, v gjson.Result, pp *profileParse) bool {
		var n int64 = -1
		readNumber(&n, ps, p, v, 1, maxCursorLength)
		pp.pr.maxCursorLength = int(n)
		return true
	}, doc: "the longest cursor, in bytes as received"},
	{name: "on_violation", read: func(ps *parser, p jsonPath, v gjson.Result, pp *profileParse) bool {
		if s, ok := ps.enum(p, v, "reject", "clamp"); ok {
			pp.pr.clamp = s == "clamp"
		}
		return true
	}, def: `"reject"`, doc: "reject, or clamp: what a value over its maximum gets"},
	{name: "cursor_seal", read: func(ps *parser, p jsonPath, v gjson.Result, pp *profileParse) bool {
		pp.sealPath = p
		pp.pr.seal = ps.parseCursorSeal(p, v)
		return true
	}, doc: "seal the back end's cursors"},
}}

// readParam returns the read function of the parameter name of kind.
func readParam(kind int) func(ps *parser, p jsonPath, v gjson.Result, pp *profileParse) bool {
	return func(ps *parser, p jsonPath, v gjson.Result, pp *profileParse) bool {
		pp.paths[kind] = p
		if s, ok := ps.str(p, v); ok {
			if s == "" {
				ps.add(p, "must not be empty")
			}
			*pp.pr.param(kind) = ps.keep(s)
		}
		return true
	}
}

// param returns the name of the parameter of kind.
func (p *profile) param(kind int) *string {
	switch kind {
	case paramLimit:
		return &p.limitParam
	case paramOffset:
		return &p.offsetParam
	case paramPage:
		return &p.pageParam
	}
	return &p.cursorParam
}

// readNumber reads the integer v in [min, max] into dst.
func readNumber(dst *int64, ps *parser, p jsonPath, v gjson.Result, min, max int64) bool {
	if n, ok := ps.integer(p, v, min, max); ok {
		*dst = n
	}
	return true
}

func readProfiles(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	c.profilesUnsure = !ps.object(p, v, "", func(name string, p jsonPath, v gjson.Result) bool {
		if pr := ps.parseProfile(name, p, v); pr != nil {
			c.profiles = append(c.profiles, pr)
			c.profilePaths = append(c.profilePaths, p)
		} else {
			c.badProfiles[name] = true
		}
		return true
	})
	return true
}

// parseProfile reads one pagination profile.
func (ps *parser) parseProfile(name string, path jsonPath, v gjson.Result) *profile {
	pp := profileParse{pr: &profile{name: ps.keep(name), maxLimit: -1, maxOffset: -1, maxPage: -1, maxCursorLength: -1}}
	if !readObject(ps, &profileFields, path, v, &pp) {
		return nil
	}
	pr := pp.pr
	present := func(field string) bool { return v.Get(gjson.Escape(field)).Exists() }
	pair := func(param, limit string, has bool) {
		switch {
		case has && !present(limit):
			ps.add(path.member(limit), "is required with "+param)
		case !has && present(limit):
			ps.add(path.member(limit), "needs "+param)
		}
	}
	pair("limit_param", "max_limit", pr.limitParam != "")
	pair("offset_param", "max_offset", pr.offsetParam != "")
	pair("page_param", "max_page", pr.pageParam != "")
	pair("cursor_param", "max_cursor_length", pr.cursorParam != "")
	if !pp.defaultPath.isZero() && pr.limitParam == "" {
		ps.add(pp.defaultPath, "needs limit_param")
	}
	if pr.defaultLimit > 0 && pr.maxLimit > 0 && pr.defaultLimit > pr.maxLimit {
		ps.add(pp.defaultPath, "must be <= max_limit")
	}
	if pr.limitParam == "" && pr.offsetParam == "" && pr.pageParam == "" && pr.cursorParam == "" {
		ps.add(path, "must configure at least one of limit_param, offset_param, page_param and cursor_param")
	}
	ps.checkCursorSeal(pr, pp.sealPath)
	names := [numParamKinds]string{paramLimit: pr.limitParam, paramOffset: pr.offsetParam, paramPage: pr.pageParam, paramCursor: pr.cursorParam}
	for i := paramLimit; i < numParamKinds; i++ {
		for j := paramLimit; j < i; j++ {
			if names[i] != "" && names[i] == names[j] {
				ps.add(pp.paths[i], "duplicate parameter name "+quote(names[i]))
			}
		}
	}
	return pr
}

// checkProfileParams reports profile parameters that are also key source
// query parameters.
func (ps *parser) checkProfileParams(c *config, queryParams []string) {
	fields := [...]string{paramLimit: "limit_param", paramOffset: "offset_param", paramPage: "page_param", paramCursor: "cursor_param"}
	for pi, pr := range c.profiles {
		for kind := paramLimit; kind < numParamKinds; kind++ {
			for _, q := range queryParams {
				if pr.names[kind] == q {
					ps.add(c.profilePaths[pi].member(fields[kind]), "conflicts with the key source query parameter "+quote(q))
				}
			}
		}
	}
}

// parsePlainUint parses a plain base-10 non-negative integer: digits only,
// no sign, no leading zero (except "0" itself), no exponent, at most the
// largest int64. ok is false when s is not such an integer.
func parsePlainUint(s string) (v int64, ok bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	const maxInt64 = 1<<63 - 1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if v > (maxInt64-d)/10 {
			return 0, false // beyond int64
		}
		v = v*10 + d
	}
	return v, true
}

// buildProfiles precomputes the profiles of c, and returns them by name.
func (p *Policy) buildProfiles(c *config) map[string]*profile {
	profiles := make(map[string]*profile, len(c.profiles))
	for _, pr := range c.profiles {
		pr.precompute()
		profiles[pr.name] = pr
		if pr.seal != nil {
			p.seals = append(p.seals, pr.seal)
		}
	}
	return profiles
}

// warnUnusedProfiles warns about the profiles no route uses.
func (ps *parser) warnUnusedProfiles(c *config, used map[string]bool) {
	for i, pr := range c.profiles {
		if !used[pr.name] {
			ps.warn(c.profilePaths[i], "pagination profile "+quote(pr.name)+" is not used by any route")
		}
	}
}
