package policy

import (
	"net/netip"
	"strings"
)

// Decision is the answer for one request. Its fields are grouped by
// concern (problem, identity, upstream changes, rate limit), so that turning
// an allowed decision into a denial copies whole groups. Slices in a
// Decision may be shared with the Policy and other decisions: read them,
// never modify them.
type Decision struct {
	// Allow reports whether the request may proceed.
	Allow bool
	// Status is the HTTP status to answer with when denied; 200 when allowed.
	Status int
	// Reason is the stable reason code.
	Reason Reason
	// Route is the name of the matched route, "" if none.
	Route string

	// Problem is what a denial answers with; zero when allowed.
	Problem Problem
	// Identity is who presented the request, as far as it is known.
	Identity Identity
	// Upstream is what to change in an allowed request before it goes
	// upstream; zero for a denial.
	Upstream Upstream
	// RateLimit is the rate limit the request is counted against.
	RateLimit RateLimiting

	// CursorSeal, set on an allowed request (enforce mode) to a route
	// whose pagination profile seals cursors, seals the cursors of the
	// response for Identity.Consumer on Route (cursor_seal.go).
	CursorSeal *CursorSeal
}

// Problem holds the response of a denial.
type Problem struct {
	// Type, Title and Detail are the RFC 9457 problem fields of a denial.
	// Type is ProblemTypeBase + reason. Detail never contains the presented
	// key or the query string.
	Type, Title, Detail string
	// ResponseHeaders are the headers to send with a denial (lower-case
	// names): www-authenticate for 401 and insufficient_scope; retry-after,
	// ratelimit-policy and ratelimit for 429.
	ResponseHeaders [][2]string
	// MissingScopes lists the route scopes the consumer lacks, for
	// insufficient_scope.
	MissingScopes []string
}

// Identity says whose key the request presented.
type Identity struct {
	// Consumer is the consumer id when a key was found: accepted, and also
	// for revoked, expired, not_yet_valid, insufficient_scope, no_route,
	// bad_pagination and rate limiting.
	Consumer string
	// KeyID is the id of the key found, under the same conditions.
	KeyID string
	// KeyPresented reports whether a credential was presented.
	KeyPresented bool
}

// Upstream holds the changes to an allowed request.
type Upstream struct {
	// RemoveHeaders are the request headers to drop before going upstream:
	// always the identity headers (client-supplied copies are never
	// trusted), and the credential headers that were present when
	// hide_credentials is on. Each is to be removed under every spelling
	// SameHeaderName accepts (x_apiguard_consumer too).
	RemoveHeaders []string
	// SetHeaders are the identity headers to set upstream: consumer id, key
	// id and the consumer's scopes (sorted, space-separated). All three are
	// unset (empty names) when no consumer was identified, as on public
	// routes. An array rather than a slice: per-key slices would cost a
	// large key set about 100 bytes per key.
	SetHeaders [3][2]string
	// NewPath is the :path to send upstream when it changes: the path
	// normalized for matching, the credential query parameter stripped, a
	// pagination value clamped or the default limit added. "" means
	// unchanged. The rest of the query is kept intact and in order.
	NewPath string
}

// RateLimiting names the rate limit of a request.
type RateLimiting struct {
	// Limit is the rate-limit policy of the request, nil for none.
	Limit *Limit
	// BucketKey names the token bucket in shared data. It never contains
	// the key: "consumer/<policy>/<consumer id>" for authenticated
	// requests, "anon/<policy>/<slot>" for public routes.
	BucketKey string
	// PartitionKey is a short hash of the consumer id (or of the anonymous
	// slot), for the pk parameter of the RateLimit headers.
	PartitionKey string

	// Quota is the quota of an allowed authenticated request (the route's,
	// else the consumer's, else default_quota), nil for none. The filter
	// names it in the quota header for Envoy's global rate-limit filter,
	// which counts it per consumer (see quota.go).
	Quota *Quota
}

// Fixed details and headers of denials.
const (
	detailMissing        = "this route requires an API key"
	detailMalformed      = "the API key is not well-formed"
	detailUnknown        = "the API key is not recognized"
	detailRevoked        = "the API key has been revoked"
	detailExpired        = "the API key has expired"
	detailNotYetValid    = "the API key is not valid yet"
	detailInvalidRequest = "more than one credential was presented; use exactly one authentication method"
	detailNoRoute        = "no route is configured for this method and path"
)

var (
	wwwAuthenticate      = [][2]string{{"www-authenticate", `ApiKey realm="apiguard"`}}
	wwwAuthenticateToken = [][2]string{{"www-authenticate", `ApiKey realm="apiguard", error="invalid_token"`}}
)

// deny returns a denial with its problem fields.
func deny(r Reason, detail string) Decision {
	info := infoOf(r)
	return Decision{Status: info.status, Reason: r, Problem: Problem{Type: info.typ, Title: info.title, Detail: detail}}
}

// unauthorized returns a 401 denial with its WWW-Authenticate header.
func unauthorized(r Reason, detail string, presented bool) Decision {
	d := deny(r, detail)
	d.Identity.KeyPresented = presented
	d.Problem.ResponseHeaders = wwwAuthenticate
	if presented {
		d.Problem.ResponseHeaders = wwwAuthenticateToken
	}
	return d
}

// Decide evaluates one request. Evaluation order: path normalization
// (bad_path), route matching, then for public routes pagination only; for
// every other request the credential (missing, invalid_request, malformed,
// unknown, revoked, not_yet_valid, expired), the route's scopes
// (insufficient_scope), unmatched routes (no_route, after authentication so
// that unauthenticated clients cannot enumerate routes) and pagination
// (bad_pagination). Decide never reads a clock and never panics.
func (p *Policy) Decide(r Request) Decision {
	var d Decision
	p.DecideInto(&d, &r)
	return d
}

// DecideInto is Decide writing the decision into *d (whatever it held),
// for a caller that keeps the decision in place: the filter, where copying
// the Decision and the Request costs more than in native code. A new
// :path goes into r.PathBuffer when it fits (see Request).
func (p *Policy) DecideInto(d *Decision, r *Request) {
	*d = Decision{}
	if strings.IndexByte(r.Path, '#') >= 0 {
		*d = deny(ReasonBadPath, detailPathFragment) // in the query too
		return
	}
	rawPath, query, hasQuery := splitPathQuery(r.Path)
	norm, bad := normalizePath(rawPath)
	if bad != "" {
		*d = deny(ReasonBadPath, bad)
		return
	}
	rt := p.router.match(r.Method, norm)
	var cred credentials
	p.findCredentials(&cred, r.Headers, query, rt)
	if rt != nil && rt.public {
		p.allowPublic(d, r, rt, norm, rawPath, query, hasQuery, &cred)
		return
	}

	if p.authenticate(r, &cred, d) {
		if rt != nil {
			d.Route = rt.name // for logs; the response never names routes
		}
		return
	}
	e := &cred.entry
	c := &p.consumers[e.consumer]

	d.Allow, d.Status, d.Reason = true, 200, ReasonAllowed
	d.Identity = Identity{Consumer: p.consumerID(c), KeyID: p.keyID(e), KeyPresented: true}
	limit := -1
	var prof *profile
	if rt != nil {
		d.Route = rt.name
		for _, id := range rt.scopeIDs {
			if !p.hasScope(c, id) {
				*d = p.insufficientScope(*d, rt, c)
				return
			}
		}
		limit, prof = rt.limit, rt.profile
	} else if !p.unmatched {
		*d = identified(deny(ReasonNoRoute, detailNoRoute), *d)
		return
	}

	sc := sealContext{open: !p.shadow, route: d.Route, consumer: d.Identity.Consumer, now: r.Now}
	newPath, detail := p.rewrite(r.PathBuffer, norm, rawPath, query, hasQuery, prof, &cred, &sc)
	if detail != "" {
		*d = identified(deny(ReasonBadPagination, detail), *d)
		return
	}
	d.Upstream.NewPath = newPath
	d.Upstream.RemoveHeaders = p.remove[cred.headerMask]
	d.Upstream.SetHeaders = [3][2]string{{p.forward[0], d.Identity.Consumer}, {p.forward[1], d.Identity.KeyID}, {p.forward[2], p.scopeSets[c.set].header}}

	if limit < 0 {
		limit = int(c.limit)
	}
	if limit < 0 {
		limit = p.defaultLimit
	}
	if limit >= 0 {
		d.RateLimit.Limit = p.limits[limit]
		d.RateLimit.BucketKey = p.bucketKey(c, limit)
		d.RateLimit.PartitionKey = p.partitionKey(c)
	}
	d.RateLimit.Quota = p.quotaFor(rt, c)
	if prof != nil && prof.seal != nil && !p.shadow {
		d.CursorSeal = prof.seal
	}
}

// identified copies the identity of the allowed decision d into the denial.
func identified(denial, d Decision) Decision {
	denial.Route, denial.Identity = d.Route, d.Identity
	return denial
}

// insufficientScope builds the 403 for a consumer lacking route scopes;
// its text is kept per route and scope set (scope_denial.go).
func (p *Policy) insufficientScope(d Decision, rt *route, c *consumer) Decision {
	sd := p.scopeDenialFor(rt, c)
	out := identified(deny(ReasonInsufficientScope, sd.detail), d)
	out.Problem.MissingScopes = sd.missing
	out.Problem.ResponseHeaders = sd.headers
	return out
}

// allowPublic decides a request on a public route into d (zero): any
// credential is ignored (not validated) but still stripped when
// hide_credentials is on.
func (p *Policy) allowPublic(d *Decision, r *Request, rt *route, norm, rawPath, query string, hasQuery bool, cred *credentials) {
	sc := sealContext{open: !p.shadow, route: rt.name, now: r.Now}
	newPath, detail := p.rewrite(r.PathBuffer, norm, rawPath, query, hasQuery, rt.profile, cred, &sc)
	if detail != "" {
		*d = deny(ReasonBadPagination, detail)
		d.Route = rt.name
		return
	}
	d.Allow, d.Status, d.Reason, d.Route = true, 200, ReasonAllowed, rt.name
	d.Identity.KeyPresented = cred.count > 0
	d.Upstream.NewPath = newPath
	d.Upstream.RemoveHeaders = p.remove[cred.headerMask]
	if rt.profile != nil && rt.profile.seal != nil && !p.shadow {
		d.CursorSeal = rt.profile.seal
	}
	if rt.limit >= 0 && p.anonKeys != nil && p.anonKeys[rt.limit] != nil {
		slot := p.slot(r.ClientIP)
		d.RateLimit.Limit = p.limits[rt.limit]
		d.RateLimit.BucketKey = p.anonKeys[rt.limit][slot]
		d.RateLimit.PartitionKey = p.anonPK[slot]
	}
}

// slot maps a client address to one of the anonymous buckets. IPv4 (also
// IPv4-mapped IPv6) addresses count whole; IPv6 addresses by their /64, so
// that a client cannot get fresh buckets by rotating addresses in its own
// subnet. Anything unparsable (including "") is hashed as text.
func (p *Policy) slot(ip string) int {
	h := p.anonSeed
	a, err := netip.Addr{}, error(nil)
	if ip != "" {
		a, err = netip.ParseAddr(ip)
	}
	switch a = a.Unmap(); {
	case ip == "" || err != nil:
		h = fnv1a(h, ip)
	case a.Is4():
		b := a.As4()
		h = fnv1a(h, string(b[:]))
	default:
		b := a.As16()
		h = fnv1a(h, string(b[:8]))
	}
	return int(mix64(h) % p.anonBuckets)
}
