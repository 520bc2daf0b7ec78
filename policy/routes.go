package policy

import (
	"errors"
	"strings"
)

// route is one compiled route.
type route struct {
	index    int // position in the configuration; lower wins
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

// router finds the first matching route (lowest configuration index) for a
// normalized path without scanning the route list: literal paths are looked
// up in a map, patterns with {param} segments or a trailing /* in a segment
// trie.
type router struct {
	exact map[string][]*route // by path; each list sorted by index
	root  *node               // nil when there are no patterns
}

// node is a trie node; it consumes one path segment per level.
type node struct {
	literal  map[string]*node
	param    *node
	end      []*route // patterns that end here, sorted by index
	wildcard []*route // patterns ending here in "/*", sorted by index
	minIndex int      // lowest route index in this subtree, for pruning
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

// add inserts a route with its parsed pattern and configured path. Routes
// must be added in increasing index order, which keeps every list sorted.
func (rt *router) add(r *route, pt pattern, path string) {
	if pt.literal {
		if rt.exact == nil {
			rt.exact = map[string][]*route{}
		}
		rt.exact[path] = append(rt.exact[path], r)
		return
	}
	if rt.root == nil {
		rt.root = &node{minIndex: r.index}
	}
	n := rt.root
	for _, seg := range pt.segments {
		var next *node
		if seg == paramSegment {
			if n.param == nil {
				n.param = &node{minIndex: r.index}
			}
			next = n.param
		} else {
			if n.literal == nil {
				n.literal = map[string]*node{}
			}
			if n.literal[seg] == nil {
				n.literal[seg] = &node{minIndex: r.index}
			}
			next = n.literal[seg]
		}
		n = next
	}
	if pt.wildcard {
		n.wildcard = append(n.wildcard, r)
	} else {
		n.end = append(n.end, r)
	}
}

// match returns the matching route with the lowest index, or nil.
func (rt *router) match(method, path string) *route {
	var best *route
	for _, r := range rt.exact[path] {
		if r.allows(method) {
			best = r
			break
		}
	}
	if rt.root != nil {
		best = rt.root.match(method, path, best)
	}
	return best
}

// match searches the subtree for a route better than best. rest is the part
// of the path not consumed yet: "" or "/segment...".
func (n *node) match(method, rest string, best *route) *route {
	if best != nil && best.index <= n.minIndex {
		return best
	}
	best = firstAllowed(n.wildcard, method, best)
	if rest == "" {
		return firstAllowed(n.end, method, best)
	}
	seg, tail := rest[1:], ""
	for i := 1; i < len(rest); i++ {
		if rest[i] == '/' {
			seg, tail = rest[1:i], rest[i:]
			break
		}
	}
	if child := n.literal[seg]; child != nil {
		best = child.match(method, tail, best)
	}
	if n.param != nil && seg != "" {
		best = n.param.match(method, tail, best)
	}
	return best
}

// firstAllowed returns the first route of rs (sorted by index) that allows
// method and beats best, or best.
func firstAllowed(rs []*route, method string, best *route) *route {
	for _, r := range rs {
		if best != nil && best.index <= r.index {
			break
		}
		if r.allows(method) {
			return r
		}
	}
	return best
}
