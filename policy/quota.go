package policy

import (
	"sort"

	"github.com/tidwall/gjson"
)

// Quotas are counted across every Envoy by Envoy's global rate-limit filter
// (envoy.filters.http.ratelimit) and the envoyproxy/ratelimit service, not
// by apiguard: on an allowed request the policy only names the quota, and
// the filter sends it upstream in the quota header next to the consumer
// header. Envoy's rate_limits actions turn those two headers into the
// descriptor (quota name, consumer id) that the service counts in Redis.

// QuotaUnits are the units of Quota.Per, in increasing length. They are the
// units of envoyproxy/ratelimit's RateLimitResponse.RateLimit.Unit that the
// service enforces (as fixed windows of 1 s, 60 s, 3600 s, 86400 s, 7 days,
// 30 days and 365 days, aligned on multiples of the window since the Unix
// epoch, in UTC).
var QuotaUnits = []string{"second", "minute", "hour", "day", "week", "month", "year"}

// maxQuotaRequests is the largest quota: the service's requests_per_unit is
// a uint32.
const maxQuotaRequests = 1<<32 - 1

// DefaultQuotaHeader is the request header that names the quota of an
// allowed request, unless forward.quota_header says otherwise.
const DefaultQuotaHeader = "x-apiguard-quota"

// Quota is a named quota from the configuration: Requests per Per, counted
// per consumer across the fleet by the global rate-limit service.
type Quota struct {
	// Name is the quota name from the configuration; it is the value of
	// the quota header.
	Name string
	// Requests is the number of requests admitted per window.
	Requests int64
	// Per is the window, one of QuotaUnits.
	Per string
}

// quotaConf is what the quota fields of the configuration hold before
// references are resolved.
type quotaConf struct {
	quotas      []*Quota
	quotaPaths  []jsonPath
	defaultName string
	defaultPath jsonPath
	header      string
	headerPath  jsonPath
}

// quotaFields are the fields of a quota of quotas.
var quotaFields = schema[Quota]{docPath: "quotas.<name>.", docPage: "configuration.md", fields: []field[Quota]{
	{name: "requests", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, q *Quota) bool {
		q.Requests, _ = ps.integer(p, v, 1, maxQuotaRequests)
		return true
	}, doc: "the requests admitted per window"},
	{name: "per", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, q *Quota) bool {
		if s, ok := ps.enum(p, v, QuotaUnits...); ok {
			q.Per = canonicalUnit(s)
		}
		return true
	}, doc: "the fixed window, one of QuotaUnits"},
}}

func readQuotas(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	ps.parseQuotas(p, v, &c.quota)
	return true
}

func readDefaultQuota(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	if s, ok := ps.str(p, v); ok {
		c.quota.defaultPath, c.quota.defaultName = p, ps.keep(s)
	}
	return true
}

// parseQuotas reads the quotas object.
func (ps *parser) parseQuotas(path jsonPath, v gjson.Result, qc *quotaConf) {
	ps.object(path, v, "", func(name string, p jsonPath, v gjson.Result) bool {
		if q := ps.parseQuota(name, p, v); q != nil {
			qc.quotas = append(qc.quotas, q)
			qc.quotaPaths = append(qc.quotaPaths, p)
		}
		return true
	})
}

// parseQuota reads one quota.
func (ps *parser) parseQuota(name string, path jsonPath, v gjson.Result) *Quota {
	q := &Quota{Name: ps.keep(name)}
	if !isPolicyName(name) {
		ps.add(path, "quota name must be 1 to 64 letters, digits or \"-_.:~\"")
	}
	if !readObject(ps, &quotaFields, path, v, q) {
		return nil
	}
	return q
}

// canonicalUnit returns the QuotaUnits string equal to s, so that a Quota
// does not keep the configuration text.
func canonicalUnit(s string) string {
	for _, u := range QuotaUnits {
		if u == s {
			return u
		}
	}
	return ""
}

// quotaResolver resolves quota names to indices into the compiled quotas.
type quotaResolver struct {
	ps    *parser
	index map[string]int
}

func (ps *parser) newQuotaResolver(qc *quotaConf) quotaResolver {
	r := quotaResolver{ps: ps, index: make(map[string]int, len(qc.quotas))}
	for i, q := range qc.quotas {
		r.index[q.Name] = i
	}
	return r
}

// resolve returns the index of quota name, or -1 when path is zero (no
// quota named) or the name is unknown (reported).
func (r quotaResolver) resolve(path jsonPath, name string) int {
	if path.isZero() {
		return -1
	}
	i, ok := r.index[name]
	if !ok {
		r.ps.add(path, "unknown quota "+quote(name))
		return -1
	}
	return i
}

// buildQuotas resolves every quota reference of c into p.
// Consumers' quotas were resolved by buildConsumers, with r.
func (ps *parser) buildQuotas(p *Policy, c *config, r quotaResolver) {
	qc := &c.quota
	p.quotas = qc.quotas
	p.quotaHeader = qc.header
	p.defaultQuota = r.resolve(qc.defaultPath, qc.defaultName)
	p.eachRoute(func(rt *route) {
		rc := &c.routes[rt.index]
		rt.quota = r.resolve(rc.quotaPath, rc.quota)
		if rt.public && !rc.quotaPath.isZero() {
			ps.add(rc.quotaPath, "is not allowed on a public route: a quota is counted per consumer, and a public route identifies none")
			rt.quota = -1
		}
	})
	ps.warnUnusedQuotas(p, qc)
}

// warnUnusedQuotas warns about quotas that no route, consumer or
// default_quota names: nothing is ever counted against them.
func (ps *parser) warnUnusedQuotas(p *Policy, qc *quotaConf) {
	used := make([]bool, len(qc.quotas))
	mark := func(i int) {
		if i >= 0 {
			used[i] = true
		}
	}
	mark(p.defaultQuota)
	p.eachRoute(func(rt *route) { mark(rt.quota) })
	for i := range p.consumers {
		mark(int(p.consumers[i].quota))
	}
	for i := range ps.snapConsumers {
		if q := int(ps.snapConsumers[i].quota); q < len(used) {
			mark(q)
		}
	}
	for i, q := range qc.quotas {
		if !used[i] {
			ps.warn(qc.quotaPaths[i], "quota "+quote(q.Name)+" is not used by any route, consumer or default_quota")
		}
	}
}

// checkQuotaHeader reports a quota header that collides with another
// header the policy sets, reads or removes.
func (ps *parser) checkQuotaHeader(c *config, keyHeaders []string) {
	qc := &c.quota
	path := qc.headerPath
	if path.isZero() {
		path = jsonPath{}.member("forward").member("quota_header")
	}
	names := []string{"consumer_header", "key_id_header", "scopes_header"}
	for i, h := range c.forward {
		if h == qc.header {
			ps.add(path, "must differ from "+names[i]+" ("+quote(h)+")")
		}
	}
	for _, kh := range keyHeaders {
		if kh == qc.header {
			ps.add(path, "must differ from the key source header "+quote(kh))
		}
	}
}

// Quotas returns the configured quotas, sorted by name. They are shared
// with the Policy: do not modify them.
func (p *Policy) Quotas() []*Quota {
	out := append([]*Quota(nil), p.quotas...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// QuotaHeader is the request header that names the quota of an allowed
// request (forward.quota_header). It is not in Decision.RemoveHeaders: the
// filter removes client-supplied copies of it from every request it lets
// through, in shadow mode too, so that a client can never choose what the
// global rate-limit filter counts.
func (p *Policy) QuotaHeader() string { return p.quotaHeader }

// ForwardHeaders are the identity headers the filter sets on allowed
// requests: consumer, key id and scopes.
func (p *Policy) ForwardHeaders() [3]string { return p.forward }

// quotaFor returns the quota of an authenticated request of consumer c on
// route rt (nil when no route matched): the route's, else the consumer's,
// else default_quota; nil for none.
func (p *Policy) quotaFor(rt *route, c *consumer) *Quota {
	q := -1
	if rt != nil {
		q = rt.quota
	}
	if q < 0 {
		q = int(c.quota)
	}
	if q < 0 {
		q = p.defaultQuota
	}
	if q < 0 {
		return nil
	}
	return p.quotas[q]
}
