package policy

import (
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Limits on configuration values.
const (
	maxKeySources   = 8
	maxRateRequests = 1_000_000_000
	maxParamValue   = 1_000_000_000_000
	maxPer          = 8760 * time.Hour
	minPer          = time.Millisecond
	maxAnonBuckets  = 65536
	maxCursorLength = 65536
)

// The fields of each object of the configuration, for suggestions.
const (
	rootFields = "mode key_sources key_format hide_credentials log_allowed consumers routes unmatched " +
		"pagination rate_limits default_rate_limit anonymous_buckets forward quotas default_quota key_store identity_token key_policy"
	sourceFields   = "header scheme query"
	formatFields   = "prefix checksum"
	consumerFields = "id scopes rate_limit quota keys"
	keyFields      = "id sha256 revoked not_before not_after"
	routeFields    = "name path methods scopes public pagination rate_limit quota"
	profileFields  = "limit_param offset_param page_param cursor_param default_limit max_limit max_offset " +
		"max_page max_cursor_length on_violation cursor_seal"
	limitFields   = "requests per burst"
	forwardFields = "consumer_header key_id_header scopes_header quota_header"
	quotaFields   = "requests per"
	// keyStoreFields are key_store's (keystore.go).
	keyStoreFields = "cluster authority path refresh timeout public_key chunk_size allow_unsigned max_size audience"
	// keyPolicyFields are key_policy's (key_policy.go).
	keyPolicyFields = "max_lifetime expiry_warning"
	// cursorSealFields are pagination.<name>.cursor_seal's (cursor_seal.go).
	cursorSealFields = "response_fields link_header lifetime key_env previous_key_env key previous_key max_body"
)

// config is the parsed configuration before references are resolved.
type config struct {
	mode          string
	sources       []keySource
	format        *keyFormat
	hide          bool
	logAllowed    bool
	consumers     []consumerConf
	routes        []routeConf
	unmatched     string
	profiles      []*profile
	profilePaths  []jsonPath
	limits        []*Limit
	limitPaths    []jsonPath
	defaultLimit  string
	defaultPath   jsonPath
	anonBuckets   int64
	forward       [3]string // consumer, key id, scopes
	forwardPaths  [3]jsonPath
	sourcesPath   jsonPath
	hasSourceConf bool
	// limitsUnsure and profilesUnsure are set when rate_limits or
	// pagination could not be read (or was misspelt): a reference to a
	// policy or profile that is not found is then not reported, as it only
	// follows from the error already reported. badLimits and badProfiles
	// name the entries that were present but could not be read.
	limitsUnsure, profilesUnsure bool
	badLimits, badProfiles       map[string]bool
	quota                        quotaConf // see quota.go
	// consumersPath is where consumers was given; keyStore is the parsed
	// key_store section (keystore.go), at keyStorePath.
	consumersPath jsonPath
	keyStore      *KeyStoreConfig
	keyStorePath  jsonPath
	keyPolicy     *KeyPolicy    // key_policy.go
	identity      *identityConf // identity_token (identity_token.go)
}

// keySource is one place a credential is read from: a header (optionally
// with an authentication scheme) or a query parameter.
type keySource struct {
	header string // lower-case
	scheme string
	query  string
	bit    uint // index among header sources, for RemoveHeaders variants
}

// consumerConf is a parsed consumer.
type consumerConf struct {
	path      jsonPath
	id        string
	scopes    []string
	rateLimit string
	limitPath jsonPath
	keys      []keyConf
	idOK      bool
	quota     string
	quotaPath jsonPath
}

// keyConf is a parsed key; its path is consumers[i].keys[j] (see keyRef).
type keyConf struct {
	id                  string
	sum                 [32]byte
	sumOK, idOK         bool
	revoked             bool
	notBefore, notAfter int64 // see keyEntry
}

// routeConf is a parsed route.
type routeConf struct {
	path, pathPath jsonPath
	name           string
	pattern        pattern
	rawPattern     string
	patternOK      bool
	methods        []string
	scopes         []string
	public         bool
	pagination     string
	paginationPath jsonPath
	rateLimit      string
	limitPath      jsonPath
	quota          string
	quotaPath      jsonPath
}

// parseConfig reads the whole document, recording every problem in ps.
func (ps *parser) parseConfig(root gjson.Result) *config {
	c := &config{
		mode:        "enforce",
		hide:        true,
		unmatched:   "deny",
		anonBuckets: 1024,
		forward:     [3]string{"x-apiguard-consumer", "x-apiguard-key-id", "x-apiguard-scopes"},
		badLimits:   map[string]bool{},
		badProfiles: map[string]bool{},
	}
	c.quota.header = DefaultQuotaHeader
	ps.object(jsonPath{}, root, rootFields, func(name string, p jsonPath, v gjson.Result) bool {
		switch name {
		case "mode":
			if s, ok := ps.enum(p, v, "enforce", "shadow"); ok {
				c.mode = ps.keep(s)
			}
		case "key_sources":
			c.hasSourceConf, c.sourcesPath = true, p
			c.sources = ps.parseKeySources(p, v)
		case "key_format":
			c.format = ps.parseKeyFormat(p, v)
		case "hide_credentials":
			if b, ok := ps.boolean(p, v); ok {
				c.hide = b
			}
		case "log_allowed":
			if b, ok := ps.boolean(p, v); ok {
				c.logAllowed = b
			}
		case "consumers":
			c.consumersPath = p
			ps.array(p, v, func(i int, p jsonPath, v gjson.Result) {
				c.consumers = append(c.consumers, ps.parseConsumer(p, v))
			})
		case "routes":
			ps.array(p, v, func(i int, p jsonPath, v gjson.Result) {
				c.routes = append(c.routes, ps.parseRoute(p, v))
			})
		case "unmatched":
			if s, ok := ps.enum(p, v, "deny", "allow_authenticated"); ok {
				c.unmatched = ps.keep(s)
			}
		case "pagination":
			c.profilesUnsure = !ps.object(p, v, "", func(name string, p jsonPath, v gjson.Result) bool {
				if pr := ps.parseProfile(name, p, v); pr != nil {
					c.profiles = append(c.profiles, pr)
					c.profilePaths = append(c.profilePaths, p)
				} else {
					c.badProfiles[name] = true
				}
				return true
			})
		case "rate_limits":
			c.limitsUnsure = !ps.object(p, v, "", func(name string, p jsonPath, v gjson.Result) bool {
				if l := ps.parseLimit(name, p, v); l != nil {
					c.limits = append(c.limits, l)
					c.limitPaths = append(c.limitPaths, p)
				} else {
					c.badLimits[name] = true
				}
				return true
			})
		case "default_rate_limit":
			if s, ok := ps.str(p, v); ok {
				c.defaultPath, c.defaultLimit = p, ps.keep(s)
			}
		case "anonymous_buckets":
			if n, ok := ps.integer(p, v, 1, maxAnonBuckets); ok {
				c.anonBuckets = n
			}
		case "forward":
			ps.parseForward(p, v, c)
		case "quotas":
			ps.parseQuotas(p, v, &c.quota)
		case "default_quota":
			if s, ok := ps.str(p, v); ok {
				c.quota.defaultPath, c.quota.defaultName = p, ps.keep(s)
			}
		case "key_store":
			c.keyStorePath = p
			c.keyStore = ps.parseKeyStore(p, v)
		case "key_policy":
			c.keyPolicy = ps.parseKeyPolicy(p, v)
		case "identity_token":
			c.identity = ps.parseIdentityToken(p, v)
		case HigressRulesField:
			ps.parseHigressRules(p, v)
		default:
			return false
		}
		return true
	})
	if !c.hasSourceConf {
		c.sources = []keySource{{header: "x-api-key"}}
	}
	// A misspelt section: its entries are missing, not their references.
	c.limitsUnsure = c.limitsUnsure || ps.misspelt["rate_limits"]
	c.profilesUnsure = c.profilesUnsure || ps.misspelt["pagination"]
	ps.checkKeyStoreExclusive(c)
	ps.checkKeyPolicy(c)
	return c
}

// parseKeySources reads key_sources.
func (ps *parser) parseKeySources(path jsonPath, v gjson.Result) []keySource {
	var out []keySource
	n := 0
	ok := ps.array(path, v, func(i int, p jsonPath, v gjson.Result) {
		n++
		var s keySource
		var schemePath jsonPath
		good := ps.object(p, v, sourceFields, func(name string, p jsonPath, v gjson.Result) bool {
			switch name {
			case "header":
				if h, ok := ps.str(p, v); ok {
					if !isToken(h) {
						ps.add(p, "must be a valid header name, got "+quote(h))
					}
					s.header = strings.ToLower(ps.keep(h))
				}
			case "scheme":
				schemePath = p
				if sc, ok := ps.str(p, v); ok {
					if !isToken(sc) {
						ps.add(p, "must be an authentication scheme token, got "+quote(sc))
					}
					s.scheme = ps.keep(sc)
				}
			case "query":
				if q, ok := ps.str(p, v); ok {
					if q == "" {
						ps.add(p, "must not be empty")
					}
					s.query = ps.keep(q)
				}
			default:
				return false
			}
			return true
		})
		if !good {
			return
		}
		switch {
		case s.header == "" && s.query == "":
			ps.add(p, `must have "header" or "query"`)
			return
		case s.header != "" && s.query != "":
			ps.add(p, `must have only one of "header" and "query"`)
			return
		case s.query != "" && !schemePath.isZero():
			ps.add(schemePath, `is only allowed with "header"`)
			return
		}
		for _, prev := range out {
			switch {
			case s.query != "" && prev.query == s.query:
				ps.add(p, "duplicate query parameter "+quote(s.query))
				return
			case s.header != "" && prev.header == s.header && (s.scheme == "" || prev.scheme == "" || strings.EqualFold(s.scheme, prev.scheme)):
				ps.add(p, "duplicate header "+quote(s.header)+" (the same header may only repeat with distinct schemes)")
				return
			}
		}
		out = append(out, s)
	})
	switch {
	case ok && n == 0:
		ps.add(path, "must list at least one source")
	case n > maxKeySources:
		ps.add(path, "must list at most 8 sources")
	}
	return out
}

// parseKeyFormat reads key_format.
func (ps *parser) parseKeyFormat(path jsonPath, v gjson.Result) *keyFormat {
	f := &keyFormat{checksum: true}
	hasPrefix := false
	if !ps.object(path, v, formatFields, func(name string, p jsonPath, v gjson.Result) bool {
		switch name {
		case "prefix":
			if s, ok := ps.str(p, v); ok {
				hasPrefix = true
				if s == "" || !validPrefix(s) {
					ps.add(p, "must be 1 to 64 visible ASCII characters (no spaces)")
				}
				f.prefix = ps.keep(s)
			}
		case "checksum":
			if b, ok := ps.boolean(p, v); ok {
				f.checksum = b
			}
		default:
			return false
		}
		return true
	}) {
		return nil
	}
	if !hasPrefix {
		ps.add(path.member("prefix"), "is required")
	}
	return f
}

// identifier reads an id or name: present when v is a string, ok when it is
// also a valid identifier (otherwise the problem is reported).
func (ps *parser) identifier(path jsonPath, v gjson.Result) (s string, present, ok bool) {
	s, present = ps.str(path, v)
	s = ps.keep(s)
	if !present {
		return "", false, false
	}
	if !isIdentifier(s) {
		ps.add(path, "must be 1 to 256 visible ASCII characters (no spaces)")
		return s, true, false
	}
	return s, true, true
}

// parseConsumer reads one element of consumers.
func (ps *parser) parseConsumer(path jsonPath, v gjson.Result) consumerConf {
	c := consumerConf{path: path}
	hasID := false
	ps.object(path, v, consumerFields, func(name string, p jsonPath, v gjson.Result) bool {
		switch name {
		case "id":
			if s, present, ok := ps.identifier(p, v); present {
				hasID = true
				c.id, c.idOK = s, ok
			}
		case "scopes":
			c.scopes, _ = ps.strList(p, v, ps.checkScope)
		case "rate_limit":
			if s, ok := ps.str(p, v); ok {
				c.limitPath, c.rateLimit = p, ps.keep(s)
			}
		case "quota":
			if s, ok := ps.str(p, v); ok {
				c.quotaPath, c.quota = p, ps.keep(s)
			}
		case "keys":
			if v.IsArray() {
				n := 0
				v.ForEach(func(_, _ gjson.Result) bool { n++; return true })
				c.keys = make([]keyConf, 0, n)
			}
			ps.array(p, v, func(i int, p jsonPath, v gjson.Result) {
				c.keys = append(c.keys, ps.parseKey(p, v))
			})
		default:
			return false
		}
		return true
	})
	if !hasID && v.IsObject() {
		ps.add(path.member("id"), "is required")
	}
	return c
}

// checkScope reports a scope that cannot be sent in a header.
func (ps *parser) checkScope(path jsonPath, s string) bool {
	if !isScope(s) {
		ps.add(path, "must be a scope token: visible ASCII without spaces, '\"' or '\\', got "+quote(s))
		return false
	}
	return true
}

// parseKey reads one element of consumers[i].keys.
func (ps *parser) parseKey(path jsonPath, v gjson.Result) keyConf {
	var k keyConf
	hasID, hasSum := false, false
	var naPath jsonPath
	var notBefore, notAfter time.Time
	ps.object(path, v, keyFields, func(name string, p jsonPath, v gjson.Result) bool {
		switch name {
		case "id":
			if s, present, ok := ps.identifier(p, v); present {
				hasID = true
				k.id, k.idOK = s, ok
			}
		case "sha256":
			if s, ok := ps.str(p, v); ok {
				hasSum = true
				if k.sumOK = decodeSum(&k.sum, s); !k.sumOK {
					ps.add(p, "must be 64 lowercase hex digits (the SHA-256 of the whole key)")
				}
			}
		case "revoked":
			k.revoked, _ = ps.boolean(p, v)
		case "not_before":
			notBefore = ps.timestamp(p, v)
		case "not_after":
			naPath = p
			notAfter = ps.timestamp(p, v)
		default:
			return false
		}
		return true
	})
	if !notAfter.IsZero() && !notBefore.IsZero() && !notAfter.After(notBefore) {
		ps.add(naPath, "must be after not_before")
	}
	k.notBefore, k.notAfter = noLowerBound, noUpperBound
	if !notBefore.IsZero() {
		k.notBefore = unixNano(notBefore)
	}
	if !notAfter.IsZero() {
		k.notAfter = unixNano(notAfter)
	}
	if v.IsObject() {
		if !hasID {
			ps.add(path.member("id"), "is required")
		}
		if !hasSum {
			ps.add(path.member("sha256"), "is required")
		}
	}
	return k
}

// decodeSum decodes the 64 lowercase hex digits s into sum, and reports
// whether s was well-formed.
func decodeSum(sum *[32]byte, s string) bool {
	if len(s) != 2*len(sum) {
		return false
	}
	for i := range sum {
		hi, lo := lowerHexValue(s[2*i]), lowerHexValue(s[2*i+1])
		if hi < 0 || lo < 0 {
			return false
		}
		sum[i] = byte(hi<<4 | lo)
	}
	return true
}

// lowerHexValue returns the value of a lowercase hex digit, or -1.
func lowerHexValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	}
	return -1
}

// timestamp reads an RFC 3339 time; the zero time means absent or invalid.
func (ps *parser) timestamp(path jsonPath, v gjson.Result) time.Time {
	s, ok := ps.str(path, v)
	if !ok {
		return time.Time{}
	}
	t, ok := parseUTCSeconds(s)
	var err error
	if !ok {
		t, err = time.Parse(time.RFC3339, s)
	}
	if err != nil || t.IsZero() {
		ps.add(path, "must be an RFC 3339 time such as \"2026-01-01T00:00:00Z\", got "+quote(s))
		return time.Time{}
	}
	return t
}

// parseUTCSeconds parses the common form of an RFC 3339 time,
// "YYYY-MM-DDTHH:MM:SSZ", without time.Parse's generality (a configuration
// of 100k keys holds 200k of them); ok is false for anything else, which
// time.Parse then reads. It accepts exactly what time.Parse accepts of that
// form (TestParseUTCSecondsAgreesWithTimeParse).
func parseUTCSeconds(s string) (time.Time, bool) {
	if len(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	second, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, second, 0, time.UTC), true
}

// daysIn returns the number of days of month in year.
func daysIn(month time.Month, year int) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseRoute reads one element of routes.
func (ps *parser) parseRoute(path jsonPath, v gjson.Result) routeConf {
	r := routeConf{path: path}
	hasName, hasPath := false, false
	ps.object(path, v, routeFields, func(name string, p jsonPath, v gjson.Result) bool {
		switch name {
		case "name":
			if s, present, _ := ps.identifier(p, v); present {
				hasName = true
				r.name = s
			}
		case "path":
			r.pathPath = p
			if s, ok := ps.str(p, v); ok {
				hasPath = true
				s = ps.keep(s) // the pattern's segments are substrings of it
				pt, err := parsePattern(s)
				if err != nil {
					ps.add(p, err.Error())
				} else {
					r.pattern, r.rawPattern, r.patternOK = pt, s, true
				}
			}
		case "methods":
			ms, ok := ps.strList(p, v, func(p jsonPath, s string) bool {
				if !isToken(s) {
					ps.add(p, "must be an HTTP method token, got "+quote(s))
					return false
				}
				return true
			})
			if ok && len(ms) == 0 {
				ps.add(p, "must not be empty (leave it out to allow every method)")
			}
			for i, m := range ms {
				if up := strings.ToUpper(m); up != m {
					ps.warn(p.elem(i), "method "+quote(m)+" never matches a standard request: methods are case-sensitive "+
						"and clients send "+quote(up))
				}
			}
			r.methods = ms
			if len(ms) == 0 {
				r.methods = []string{} // matches nothing; an error is reported
			}
		case "scopes":
			r.scopes, _ = ps.strList(p, v, ps.checkScope)
		case "public":
			r.public, _ = ps.boolean(p, v)
		case "pagination":
			if s, ok := ps.str(p, v); ok {
				r.paginationPath, r.pagination = p, ps.keep(s)
			}
		case "rate_limit":
			if s, ok := ps.str(p, v); ok {
				r.limitPath, r.rateLimit = p, ps.keep(s)
			}
		case "quota":
			if s, ok := ps.str(p, v); ok {
				r.quotaPath, r.quota = p, ps.keep(s)
			}
		default:
			return false
		}
		return true
	})
	if v.IsObject() {
		if !hasName {
			ps.add(path.member("name"), "is required")
		}
		if !hasPath {
			ps.add(path.member("path"), "is required")
		}
		if r.public && len(r.scopes) > 0 {
			ps.add(path.member("scopes"), "must be empty on a public route")
		}
	}
	return r
}

// parseLimit reads one rate-limit policy.
func (ps *parser) parseLimit(name string, path jsonPath, v gjson.Result) *Limit {
	l := &Limit{Name: ps.keep(name)}
	l.quoted = strconv.Quote(l.Name)
	if !isPolicyName(name) {
		ps.add(path, "policy name must be 1 to 64 letters, digits or \"-_.:~\"")
	}
	hasRequests, hasPer := false, false
	if !ps.object(path, v, limitFields, func(field string, p jsonPath, v gjson.Result) bool {
		switch field {
		case "requests":
			hasRequests = true
			l.Requests, _ = ps.integer(p, v, 1, maxRateRequests)
		case "per":
			hasPer = true
			if s, ok := ps.str(p, v); ok {
				d, err := time.ParseDuration(s)
				if err != nil || d < minPer || d > maxPer {
					ps.add(p, "must be a duration between 1ms and 8760h such as \"1s\" or \"1m\", got "+quote(s))
				} else {
					l.Per = d
				}
			}
		case "burst":
			l.Burst, _ = ps.integer(p, v, 1, maxRateRequests)
		default:
			return false
		}
		return true
	}) {
		return nil
	}
	ps.require(path, "requests", hasRequests)
	ps.require(path, "per", hasPer)
	if l.Burst == 0 {
		l.Burst = l.Requests
	}
	return l
}

// parseForward reads forward.
func (ps *parser) parseForward(path jsonPath, v gjson.Result, c *config) {
	ps.object(path, v, forwardFields, func(name string, p jsonPath, v gjson.Result) bool {
		i := -1
		switch name {
		case "consumer_header":
			i = 0
		case "key_id_header":
			i = 1
		case "scopes_header":
			i = 2
		case "quota_header":
			c.quota.headerPath = p
			if s, ok := ps.str(p, v); ok {
				if !isToken(s) {
					ps.add(p, "must be a valid header name, got "+quote(s))
				} else {
					c.quota.header = strings.ToLower(ps.keep(s))
				}
			}
			return true
		default:
			return false
		}
		c.forwardPaths[i] = p
		if s, ok := ps.str(p, v); ok {
			if !isToken(s) {
				ps.add(p, "must be a valid header name, got "+quote(s))
				return true
			}
			c.forward[i] = strings.ToLower(ps.keep(s))
		}
		return true
	})
}
