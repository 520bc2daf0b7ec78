// Credentials and identity headers: where a key is read from (key_sources),
// what it must look like (key_format), which headers carry the identity
// upstream (forward), and the headers removed before the request goes
// upstream.

package policy

import (
	"strings"

	"github.com/tidwall/gjson"

	"github.com/apiguard/apiguard/policy/keymat"
)

// maxKeySources bounds key_sources.
const maxKeySources = 8

// keySource is one place a credential is read from: a header (optionally
// with an authentication scheme) or a query parameter.
type keySource struct {
	header string // lower-case
	scheme string
	query  string
	bit    uint // index among header sources, for RemoveHeaders variants
}

// sourceConf is a key source being read.
type sourceConf struct {
	keySource
	schemePath jsonPath
}

// sourceFields are the fields of an element of key_sources.
var sourceFields = schema[sourceConf]{docPath: "key_sources[].", docPage: "configuration.md", fields: []field[sourceConf]{
	{name: "header", read: func(ps *parser, p jsonPath, v gjson.Result, s *sourceConf) bool {
		if h, ok := ps.str(p, v); ok {
			if !isToken(h) {
				ps.add(p, "must be a valid header name, got "+quote(h))
			}
			s.header = strings.ToLower(ps.keep(h))
		}
		return true
	}, doc: "a header carrying the key"},
	{name: "scheme", read: func(ps *parser, p jsonPath, v gjson.Result, s *sourceConf) bool {
		s.schemePath = p
		if sc, ok := ps.str(p, v); ok {
			if !isToken(sc) {
				ps.add(p, "must be an authentication scheme token, got "+quote(sc))
			}
			s.scheme = ps.keep(sc)
		}
		return true
	}, doc: "with header: the authentication scheme before the key"},
	{name: "query", read: func(ps *parser, p jsonPath, v gjson.Result, s *sourceConf) bool {
		if q, ok := ps.str(p, v); ok {
			if q == "" {
				ps.add(p, "must not be empty")
			}
			s.query = ps.keep(q)
		}
		return true
	}, doc: "a query parameter carrying the key"},
}}

func readKeySources(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	c.sourcesPath = p
	c.sources = ps.parseKeySources(p, v)
	return true
}

// parseKeySources reads key_sources.
func (ps *parser) parseKeySources(path jsonPath, v gjson.Result) []keySource {
	var out []keySource
	n := 0
	ok := ps.array(path, v, func(i int, p jsonPath, v gjson.Result) {
		n++
		var s sourceConf
		if readObject(ps, &sourceFields, p, v, &s) && ps.checkSource(p, &s, out) {
			out = append(out, s.keySource)
		}
	})
	switch {
	case ok && n == 0:
		ps.add(path, "must list at least one source")
	case n > maxKeySources:
		ps.add(path, "must list at most 8 sources")
	}
	return out
}

// checkSource reports a source at p that names neither or both of a header
// and a parameter, or repeats one of prev.
func (ps *parser) checkSource(p jsonPath, s *sourceConf, prev []keySource) bool {
	switch {
	case s.header == "" && s.query == "":
		ps.add(p, `must have "header" or "query"`)
		return false
	case s.header != "" && s.query != "":
		ps.add(p, `must have only one of "header" and "query"`)
		return false
	case s.query != "" && !s.schemePath.isZero():
		ps.add(s.schemePath, `is only allowed with "header"`)
		return false
	}
	for _, pr := range prev {
		switch {
		case s.query != "" && pr.query == s.query:
			ps.add(p, "duplicate query parameter "+quote(s.query))
			return false
		case s.header != "" && pr.header == s.header && (s.scheme == "" || pr.scheme == "" || strings.EqualFold(s.scheme, pr.scheme)):
			ps.add(p, "duplicate header "+quote(s.header)+" (the same header may only repeat with distinct schemes)")
			return false
		}
	}
	return true
}

// keyFormat is the compiled key_format section.
type keyFormat struct {
	prefix   string
	checksum bool
}

// formatFields are key_format's.
var formatFields = schema[keyFormat]{docPath: "key_format.", docPage: "configuration.md", fields: []field[keyFormat]{
	{name: "prefix", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, f *keyFormat) bool {
		s, ok := ps.str(p, v)
		if ok {
			if s == "" || !keymat.ValidPrefix(s) {
				ps.add(p, "must be 1 to 64 visible ASCII characters (no spaces)")
			}
			f.prefix = ps.keep(s)
		}
		return ok
	}, doc: "the prefix every key starts with"},
	{name: "checksum", read: readBool(func(f *keyFormat) *bool { return &f.checksum }), def: "true",
		doc: "whether keys end in a CRC32 checksum"},
}}

// parseKeyFormat reads key_format.
func (ps *parser) parseKeyFormat(path jsonPath, v gjson.Result) *keyFormat {
	f := &keyFormat{}
	if !readObject(ps, &formatFields, path, v, f) {
		return nil
	}
	return f
}

// forwardFields are forward's: the names of the headers sent upstream.
var forwardFields = schema[config]{docPath: "forward.", docPage: "configuration.md", fields: []field[config]{
	{name: "consumer_header", read: readIdentityHeader(0), def: `"x-apiguard-consumer"`, doc: "the header naming the consumer"},
	{name: "key_id_header", read: readIdentityHeader(1), def: `"x-apiguard-key-id"`, doc: "the header naming the key id"},
	{name: "scopes_header", read: readIdentityHeader(2), def: `"x-apiguard-scopes"`, doc: "the header listing the granted scopes"},
	{name: "quota_header", read: func(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
		c.quota.headerPath = p
		if s, ok := ps.str(p, v); ok {
			if !isToken(s) {
				ps.add(p, "must be a valid header name, got "+quote(s))
			} else {
				c.quota.header = strings.ToLower(ps.keep(s))
			}
		}
		return true
	}, def: `"` + DefaultQuotaHeader + `"`, doc: "the header naming the quota"},
}}

// identityHeaderFields name the identity headers, by index in
// config.forward.
var identityHeaderFields = [3]string{"consumer_header", "key_id_header", "scopes_header"}

// readIdentityHeader reads identity header i of forward.
func readIdentityHeader(i int) func(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	return func(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
		c.forwardPaths[i] = p
		if s, ok := ps.str(p, v); ok {
			if !isToken(s) {
				ps.add(p, "must be a valid header name, got "+quote(s))
				return true
			}
			c.forward[i] = strings.ToLower(ps.keep(s))
		}
		return true
	}
}

func readForward(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	readObject(ps, &forwardFields, p, v, c)
	return true
}

// buildSources checks the key sources against the other header and
// parameter names and precomputes the RemoveHeaders variants.
func (ps *parser) buildSources(p *Policy, c *config) {
	var headers []string
	bit := uint(0)
	for i := range c.sources {
		s := &c.sources[i]
		if s.query != "" {
			p.queryParams = append(p.queryParams, s.query)
			continue
		}
		s.bit = bit
		bit++
		headers = append(headers, s.header)
	}
	p.sources = c.sources
	ps.checkIdentityHeaders(c, headers)
	ps.checkProfileParams(c, p.queryParams)
	ps.checkQuotaHeader(c, headers)
	p.remove = make([][]string, 1<<bit)
	p.forward = c.forward
	for mask := range p.remove {
		list := []string{c.forward[0], c.forward[1], c.forward[2]}
		if c.hide {
			for _, s := range c.sources {
				if s.query == "" && mask&(1<<s.bit) != 0 && !contains(list, s.header) {
					list = append(list, s.header)
				}
			}
		}
		p.remove[mask] = list[:len(list):len(list)]
	}
}

// checkIdentityHeaders reports identity headers that repeat each other or a
// key source header.
func (ps *parser) checkIdentityHeaders(c *config, keyHeaders []string) {
	for i, h := range c.forward {
		path := c.forwardPaths[i]
		if path.isZero() {
			path = jsonPath{}.member("forward").member(identityHeaderFields[i])
		}
		for j := 0; j < i; j++ {
			if c.forward[j] == h {
				ps.add(path, "must differ from "+identityHeaderFields[j]+" ("+quote(h)+")")
			}
		}
		for _, kh := range keyHeaders {
			if kh == h {
				ps.add(path, "must differ from the key source header "+quote(h))
			}
		}
	}
}
