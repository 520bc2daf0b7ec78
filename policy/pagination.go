// Pagination: everything about pagination profiles lives in this file, from
// reading a profile in the configuration to checking and rewriting the
// query of a request.

package policy

import (
	"strconv"

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
	// Up to 18 digits cannot leave int64; a 19th is checked, without the
	// division per digit that costs in the filter's module.
	const maxInt64 = 1<<63 - 1
	if len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if i == 18 && v > (maxInt64-d)/10 {
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
