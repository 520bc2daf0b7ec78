package policy

import (
	"strings"
	"unsafe"
)

// scopeDenialSlots is how many insufficient_scope denials a Policy keeps
// (a power of two).
const scopeDenialSlots = 64

// scopeDenial is the text of the insufficient_scope denial of a route for
// a consumer's scope set: the missing scopes, the detail and the
// WWW-Authenticate header, shared read-only by every Decision that
// carries them.
type scopeDenial struct {
	route   *route
	set     *scopeSet
	detail  string
	missing []string
	headers [][2]string
}

// scopeDenialFor returns the denial text of route rt for consumer c, kept
// in p's cache (keycache.go: its lock and owner) per route and scope set:
// both are immutable once compiled, so the text is the same every time.
// It builds the text when the cache has none, or is busy on another
// goroutine. The result is a copy: the slot may be reused once the lock
// is released.
func (p *Policy) scopeDenialFor(rt *route, c *consumer) scopeDenial {
	set := p.scopeSets[c.set]
	kc := p.cache
	if kc == nil || !kc.mu.TryLock() {
		return p.newScopeDenial(rt, c, set)
	}
	defer kc.mu.Unlock()
	kc.own(p)
	if kc.scopes == nil {
		kc.scopes = new([scopeDenialSlots]scopeDenial)
	}
	i := (uintptr(unsafe.Pointer(rt))>>4 ^ uintptr(unsafe.Pointer(set))>>3) % scopeDenialSlots
	s := &kc.scopes[i]
	if s.route != rt || s.set != set {
		*s = p.newScopeDenial(rt, c, set)
	}
	return *s
}

// newScopeDenial builds the denial text of route rt for consumer c, whose
// scope set is set: three allocations. The detail and the header value
// share one string: "missing scopes: a b" then the WWW-Authenticate value
// naming the same scopes.
func (p *Policy) newScopeDenial(rt *route, c *consumer, set *scopeSet) scopeDenial {
	missing := make([]string, 0, len(rt.scopeIDs))
	size := 0
	for i, id := range rt.scopeIDs {
		if !p.hasScope(c, id) {
			missing = append(missing, rt.scopes[i])
			size += len(rt.scopes[i]) + 1
		}
	}
	const detailPrefix, headerPrefix, headerSuffix = "missing scopes: ", `ApiKey realm="apiguard", error="insufficient_scope", scope="`, `"`
	var b strings.Builder
	b.Grow(len(detailPrefix) + len(headerPrefix) + len(headerSuffix) + 2*size)
	joined := func() {
		for i, s := range missing {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(s)
		}
	}
	b.WriteString(detailPrefix)
	joined()
	cut := b.Len()
	b.WriteString(headerPrefix)
	joined()
	b.WriteString(headerSuffix)
	both := b.String()
	return scopeDenial{route: rt, set: set, detail: both[:cut], missing: missing,
		headers: [][2]string{{"www-authenticate", both[cut:]}}}
}
