package policy

import (
	"errors"
	"strings"

	"github.com/tidwall/gjson"
)

// route is one compiled route.
type route struct {
	index    int // position in the configuration, for messages
	name     string
	methods  []string // nil: every method
	public   bool
	scopes   []string // required scopes, in configuration order
	scopeIDs []int    // interned ids of scopes
	profile  *profile // nil: no pagination
	limit    int      // index into Policy.limits, -1 for none
	quota    int      // index into Policy.quotas, -1 for none
}

// allows reports whether the route accepts method. Methods are compared
// case-sensitively, as HTTP defines them.
func (r *route) allows(method string) bool {
	if r.methods == nil {
		return true
	}
	for _, m := range r.methods {
		if m == method {
			return true
		}
	}
	return false
}

// router finds the most specific route for a method and a normalized path
// without scanning the route list: literal paths are looked up in a map,
// patterns with {param} segments or a trailing /* in a segment trie. The
// order of the configuration plays no part (see match).
type router struct {
	exact map[string]routeSet // by path
	// exactLens has bit min(len(path), 63) set for every path of exact, so
	// that most paths a pattern serves skip the map (hashing a string is
	// among the dearer steps of Go's wasm code).
	exactLens uint64
	root      *node // nil when there are no patterns
}

// node is a trie node; it consumes one path segment per level.
type node struct {
	literal  children
	param    *node
	end      routeSet // patterns that end here
	wildcard routeSet // patterns ending here in "/*"
}

// maxListedChildren is how many literal children a node searches in a
// list; a node with more looks them up in a map.
const maxListedChildren = 8

// children are a node's literal child segments. Most nodes have a few, and
// comparing a few strings (their lengths first) costs less than hashing
// one; a node with more than maxListedChildren keeps a map as well.
type children struct {
	names []string
	nodes []*node
	index map[string]*node // nil up to maxListedChildren
}

// get returns the child for segment seg, or nil.
func (c *children) get(seg string) *node {
	if c.index != nil {
		return c.index[seg]
	}
	for i, name := range c.names {
		if len(name) == len(seg) && name == seg {
			return c.nodes[i]
		}
	}
	return nil
}

// add returns the child for segment seg, created when missing.
func (c *children) add(seg string) *node {
	if n := c.get(seg); n != nil {
		return n
	}
	n := &node{}
	c.names, c.nodes = append(c.names, seg), append(c.nodes, n)
	if c.index != nil {
		c.index[seg] = n
	} else if len(c.names) > maxListedChildren {
		c.index = make(map[string]*node, len(c.names))
		for i, name := range c.names {
			c.index[name] = c.nodes[i]
		}
	}
	return n
}

// routeSet holds the routes of one pattern: those naming methods first (no
// two of them share a method), then at most one route for every method.
type routeSet []*route

// pick returns the route of s that accepts method, or nil. A route naming
// the method comes before the one accepting every method.
func (s routeSet) pick(method string) *route {
	for _, r := range s {
		if r.allows(method) {
			return r
		}
	}
	return nil
}

// insert adds r to s unless a route of s accepts a method r accepts too;
// that route is returned as the conflict.
func (s *routeSet) insert(r *route) (conflict *route) {
	for _, prev := range *s {
		if overlaps(prev, r) {
			return prev
		}
	}
	if r.methods == nil {
		*s = append(*s, r)
		return nil
	}
	i := len(*s)
	if i > 0 && (*s)[i-1].methods == nil {
		i-- // before the route for every method
	}
	*s = append(*s, nil)
	copy((*s)[i+1:], (*s)[i:])
	(*s)[i] = r
	return nil
}

// overlaps reports whether two routes of one pattern accept a common
// method. Two routes for every method overlap; a route for every method and
// one naming methods do not (the one naming the method wins).
func overlaps(a, b *route) bool {
	if a.methods == nil || b.methods == nil {
		return a.methods == nil && b.methods == nil
	}
	for _, m := range a.methods {
		if b.allows(m) {
			return true
		}
	}
	return false
}

// paramSegment stands for a {param} segment in a pattern; literal
// segments cannot contain braces.
const paramSegment = "{}"

// pattern is a parsed route path.
type pattern struct {
	segments []string // paramSegment marks a {param} segment
	wildcard bool
	literal  bool // no params, no wildcard
}

// parsePattern checks a configured route path and splits it into segments.
func parsePattern(path string) (pattern, error) {
	var pt pattern
	if path == "" || path[0] != '/' {
		return pt, errors.New("must start with '/'")
	}
	base := path
	if strings.HasSuffix(path, "/*") {
		pt.wildcard = true
		base = path[:len(path)-2]
	}
	if strings.Contains(base, "*") {
		return pt, errors.New("'*' is only allowed as a final \"/*\" segment")
	}
	if base != "" {
		if norm, bad := normalizePath(base); bad != "" {
			return pt, errors.New(bad)
		} else if norm != base {
			return pt, errors.New("must be normalized (no \"//\", \".\" or \"..\" segments, no percent-encoded unreserved characters): use " + quote(norm))
		}
	}
	seen := map[string]bool{}
	if base != "" {
		for _, seg := range strings.Split(base[1:], "/") {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && len(seg) >= 2 {
				name := seg[1 : len(seg)-1]
				if !isParamName(name) {
					return pt, errors.New("parameter " + quote(seg) + " must be {name} with letters, digits and '_'")
				}
				if seen[name] {
					return pt, errors.New("parameter {" + name + "} appears twice")
				}
				seen[name] = true
				pt.segments = append(pt.segments, paramSegment)
				continue
			}
			if strings.ContainsAny(seg, "{}") {
				return pt, errors.New("segment " + quote(seg) + ": '{' and '}' are only allowed around a whole {param} segment")
			}
			pt.segments = append(pt.segments, seg)
		}
	}
	pt.literal = !pt.wildcard && len(seen) == 0
	return pt, nil
}

// isParamName reports whether s is a non-empty run of letters, digits and '_'.
func isParamName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// add inserts a route with its parsed pattern and configured path. It
// returns the route already registered for the same pattern with a method
// in common, in which case r is not added.
func (rt *router) add(r *route, pt pattern, path string) (conflict *route) {
	if pt.literal {
		if rt.exact == nil {
			rt.exact = map[string]routeSet{}
		}
		set := rt.exact[path]
		conflict = set.insert(r)
		rt.exact[path] = set
		rt.exactLens |= 1 << min(len(path), 63)
		return conflict
	}
	if rt.root == nil {
		rt.root = &node{}
	}
	n := rt.root
	for _, seg := range pt.segments {
		if seg == paramSegment {
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
			continue
		}
		n = n.literal.add(seg)
	}
	if pt.wildcard {
		return n.wildcard.insert(r)
	}
	return n.end.insert(r)
}

// match returns the most specific route that accepts method for path, or
// nil. A literal path beats every pattern. Patterns compare segment by
// segment from the left: a literal segment beats a {param}, which beats
// the "/*" of a shorter pattern, and a pattern that ends with the path
// beats one whose "/*" matches the rest. Within one pattern a route naming
// the method beats one accepting every method.
func (rt *router) match(method, path string) *route {
	if rt.exactLens&(1<<min(len(path), 63)) != 0 {
		if r := rt.exact[path].pick(method); r != nil {
			return r
		}
	}
	if rt.root != nil {
		return rt.root.match(method, path)
	}
	return nil
}

// match searches the subtree depth first, trying the more specific choice
// at each segment first, so the first route found is the most specific.
// rest is the part of the path not consumed yet: "" or "/segment...".
func (n *node) match(method, rest string) *route {
	if rest == "" {
		if r := n.end.pick(method); r != nil {
			return r
		}
		return n.wildcard.pick(method)
	}
	seg, tail := rest[1:], ""
	for i := 1; i < len(rest); i++ {
		if rest[i] == '/' {
			seg, tail = rest[1:i], rest[i:]
			break
		}
	}
	if child := n.literal.get(seg); child != nil {
		if r := child.match(method, tail); r != nil {
			return r
		}
	}
	if n.param != nil && seg != "" {
		if r := n.param.match(method, tail); r != nil {
			return r
		}
	}
	return n.wildcard.pick(method)
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

// routeFields are the fields of an element of routes.
var routeFields = schema[routeConf]{docPath: "routes[].", docPage: "configuration.md", fields: []field[routeConf]{
	{name: "name", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, r *routeConf) bool {
		s, present, _ := ps.identifier(p, v)
		if present {
			r.name = s
		}
		return present
	}, doc: "the route's name, in logs"},
	{name: "path", required: true, read: readRoutePath, doc: "the path pattern"},
	{name: "methods", read: readMethods, doc: "the HTTP methods the route accepts"},
	{name: "scopes", read: func(ps *parser, p jsonPath, v gjson.Result, r *routeConf) bool {
		r.scopes, _ = ps.strList(p, v, ps.checkScope)
		return true
	}, def: "[]", doc: "the scopes a key needs, all of them"},
	{name: "public", read: readBool(func(r *routeConf) *bool { return &r.public }), def: "false", doc: "no key needed"},
	{name: "pagination", read: readName(func(r *routeConf) (*string, *jsonPath) { return &r.pagination, &r.paginationPath }),
		doc: "the route's pagination profile"},
	{name: "rate_limit", read: readName(func(r *routeConf) (*string, *jsonPath) { return &r.rateLimit, &r.limitPath }),
		doc: "the route's rate-limit policy"},
	{name: "quota", read: readName(func(r *routeConf) (*string, *jsonPath) { return &r.quota, &r.quotaPath }),
		doc: "the route's quota"},
}}

func readRoutes(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	ps.array(p, v, func(i int, p jsonPath, v gjson.Result) {
		c.routes = append(c.routes, ps.parseRoute(p, v))
	})
	return true
}

func readRoutePath(ps *parser, p jsonPath, v gjson.Result, r *routeConf) bool {
	r.pathPath = p
	s, ok := ps.str(p, v)
	if !ok {
		return false
	}
	s = ps.keep(s) // the pattern's segments are substrings of it
	pt, err := parsePattern(s)
	if err != nil {
		ps.add(p, err.Error())
	} else {
		r.pattern, r.rawPattern, r.patternOK = pt, s, true
	}
	return true
}

func readMethods(ps *parser, p jsonPath, v gjson.Result, r *routeConf) bool {
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
	return true
}

// parseRoute reads one element of routes.
func (ps *parser) parseRoute(path jsonPath, v gjson.Result) routeConf {
	r := routeConf{path: path}
	if readObject(ps, &routeFields, path, v, &r) && r.public && len(r.scopes) > 0 {
		ps.add(path.member("scopes"), "must be empty on a public route")
	}
	return r
}

// buildRoutes resolves route references and builds the router.
// It returns the names of the profiles that routes use.
func (ps *parser) buildRoutes(p *Policy, c *config, profiles map[string]*profile, resolveLimit func(path jsonPath, name string) int, intern func(string) int) map[string]bool {
	used := map[string]bool{}
	names := map[string]*routeConf{}
	for i := range c.routes {
		rc := &c.routes[i]
		r := &route{index: i, name: rc.name, methods: rc.methods, public: rc.public, scopes: rc.scopes, limit: resolveLimit(rc.limitPath, rc.rateLimit)}
		if prev, dup := names[rc.name]; dup && rc.name != "" {
			ps.add(rc.path.member("name"), "duplicate route name "+quote(rc.name)+" (also "+prev.path.String()+")")
		} else {
			names[rc.name] = rc
		}
		if !rc.paginationPath.isZero() {
			used[rc.pagination] = true
			if pr, ok := profiles[rc.pagination]; ok {
				r.profile = pr
			} else if !c.profilesUnsure && !c.badProfiles[rc.pagination] { // else it follows from another error
				ps.add(rc.paginationPath, "unknown profile "+quote(rc.pagination))
			}
		}
		for _, s := range rc.scopes {
			r.scopeIDs = append(r.scopeIDs, intern(s))
		}
		if rc.patternOK {
			if prev := p.router.add(r, rc.pattern, rc.rawPattern); prev != nil {
				pc := &c.routes[prev.index]
				ps.add(rc.pathPath, "route "+quote(rc.name)+" and route "+quote(pc.name)+" ("+pc.path.String()+
					") have the same path pattern and a method in common: give them distinct methods, or merge them")
			}
		}
	}
	return used
}
