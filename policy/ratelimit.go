package policy

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Limit is a token-bucket rate-limit policy: a bucket holds at most Burst
// tokens, refills at Requests tokens per Per, and each request takes one.
// A Limit returned in a Decision is shared and must not be modified.
type Limit struct {
	// Name is the policy name from the configuration.
	Name string
	// Requests tokens are added every Per.
	Requests int64
	// Per is the refill period.
	Per time.Duration
	// Burst is the bucket capacity; <= 0 means Requests.
	Burst int64

	// quoted is Name as a Go-quoted string, set when the configuration is
	// compiled, so that a 429's detail costs no quoting.
	quoted string
}

// quotedName returns the policy name quoted for a problem detail.
func (l *Limit) quotedName() string {
	if l.quoted != "" {
		return l.quoted
	}
	return strconv.Quote(l.Name)
}

// TakeResult is the outcome of Limit.Take.
type TakeResult struct {
	// Allowed reports whether a token was taken.
	Allowed bool
	// Remaining is the number of whole tokens left after this request.
	Remaining int64
	// RetryAfter is, when denied, the time until one token is available.
	RetryAfter time.Duration
	// Reset is the time until the bucket is full again.
	Reset time.Duration
}

// State layout: version byte, last update (Unix nanoseconds, big-endian),
// tokens (float64 bits, big-endian).
const (
	stateVersion = 1
	stateLen     = 17
)

// params returns the capacity and the refill rate in tokens per nanosecond,
// and ok == false for a Limit that cannot limit anything.
func (l *Limit) params() (capacity, rate float64, ok bool) {
	if l == nil || l.Requests <= 0 || l.Per <= 0 {
		return 0, 0, false
	}
	burst := l.Burst
	if burst <= 0 {
		burst = l.Requests
	}
	return float64(burst), float64(l.Requests) / float64(l.Per), true
}

// Take decodes state (nil, empty or undecodable: a full bucket), refills it
// for the time elapsed since the state's timestamp, takes one token if one
// is available, and returns the new state to store with the result. The new
// state is returned even when the request is denied.
//
// A clock going backwards refills nothing and never yields negative times;
// the stored timestamp then stays ahead until the clock catches up, unless
// the jump exceeds the time to refill the whole bucket, in which case the
// timestamp is reset to now. A Limit with Requests or Per <= 0 never limits.
func (l *Limit) Take(state []byte, now time.Time) (newState []byte, res TakeResult) {
	return l.TakeInto(nil, state, now)
}

// StateLen is the size of an encoded bucket state.
const StateLen = stateLen

// TakeInto is Take writing the new state into dst's memory when it has room
// for StateLen bytes (so that a request allocates nothing for it), and into
// new memory otherwise. dst must not overlap state.
func (l *Limit) TakeInto(dst, state []byte, now time.Time) (newState []byte, res TakeResult) {
	capacity, rate, ok := l.params()
	if !ok {
		return state, TakeResult{Allowed: true, Remaining: math.MaxInt64}
	}
	nowNs := now.UnixNano()
	tokens, ts, ok := decodeState(state)
	if !ok || !(tokens >= 0 && tokens <= capacity) {
		tokens, ts = capacity, nowNs
	}
	switch elapsed := nowNs - ts; {
	case elapsed > 0:
		tokens = math.Min(capacity, tokens+float64(elapsed)*rate)
		ts = nowNs
	case elapsed < 0 && float64(-elapsed)*rate > capacity:
		ts = nowNs
	}
	const epsilon = 1e-9 // absorbs float rounding of exact refills
	if tokens >= 1-epsilon {
		tokens = math.Max(0, tokens-1)
		res.Allowed = true
	} else {
		res.RetryAfter = ceilDuration((1 - tokens) / rate)
	}
	res.Remaining = int64(math.Floor(tokens + epsilon))
	res.Reset = ceilDuration((capacity - tokens) / rate)
	return appendState(dst, tokens, ts), res
}

// decodeState parses a stored bucket state.
func decodeState(b []byte) (tokens float64, ts int64, ok bool) {
	if len(b) != stateLen || b[0] != stateVersion {
		return 0, 0, false
	}
	ts = int64(binary.BigEndian.Uint64(b[1:9]))
	tokens = math.Float64frombits(binary.BigEndian.Uint64(b[9:17]))
	return tokens, ts, true
}

// encodeState serializes a bucket state.
func encodeState(tokens float64, ts int64) []byte { return appendState(nil, tokens, ts) }

// appendState serializes a bucket state into dst's memory when it has room,
// or into new memory.
func appendState(dst []byte, tokens float64, ts int64) []byte {
	b := dst[:0]
	if cap(b) < stateLen {
		b = make([]byte, stateLen)
	}
	b = b[:stateLen]
	b[0] = stateVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(ts))
	binary.BigEndian.PutUint64(b[9:17], math.Float64bits(tokens))
	return b
}

// ceilDuration converts nanoseconds to a Duration, rounding up, never
// negative and saturating at the maximum Duration.
func ceilDuration(ns float64) time.Duration {
	switch {
	case !(ns > 0):
		return 0
	case ns >= math.MaxInt64:
		return math.MaxInt64
	}
	return time.Duration(math.Ceil(ns))
}

// ceilSeconds returns d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d%time.Second > 0 {
		s++
	}
	return s
}

// window returns the RateLimit-Policy window in seconds: the time needed to
// refill a whole burst, so that q=burst per w seconds states the sustained
// rate. It is at least 1.
func (l *Limit) window() int64 {
	capacity, rate, ok := l.params()
	if !ok {
		return 1
	}
	w := ceilSeconds(ceilDuration(capacity / rate))
	if w < 1 {
		w = 1
	}
	return w
}

// PolicyHeader returns the RateLimit-Policy field value
// (draft-ietf-httpapi-ratelimit-headers-11):
// `"<name>";q=<burst>;w=<window seconds>;pk=:<base64 of partitionKey>:`,
// where the window is the time to refill a whole burst. pk is left out when
// partitionKey is empty.
func (l *Limit) PolicyHeader(partitionKey string) string {
	capacity, _, _ := l.params()
	var buf [headerBuf]byte // on the stack: the string is the one allocation
	b := appendSFString(buf[:0], l.name())
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, int64(capacity), 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, l.window(), 10)
	return string(appendPK(b, partitionKey))
}

// Header returns the RateLimit field value
// (draft-ietf-httpapi-ratelimit-headers-11):
// `"<name>";r=<remaining>;t=<seconds until full>;pk=:<base64>:`.
func (l *Limit) Header(res TakeResult, partitionKey string) string {
	var buf [headerBuf]byte
	return string(l.AppendHeader(buf[:0], res, partitionKey))
}

// AppendHeader appends Header's value to b.
func (l *Limit) AppendHeader(b []byte, res TakeResult, partitionKey string) []byte {
	b = append(appendSFString(b, l.name()), ";r="...)
	return appendPK(appendCounts(b, res), partitionKey)
}

// appendCounts appends `<remaining>;t=<seconds until full>`.
func appendCounts(b []byte, res TakeResult) []byte {
	b = AppendDecimal(b, max(res.Remaining, 0))
	b = append(b, ";t="...)
	return AppendDecimal(b, ceilSeconds(max(res.Reset, 0)))
}

// AppendDecimal appends v in decimal, as strconv.AppendInt(b, v, 10): in
// one call for v >= 0, where strconv makes three in the module (numbers
// on the request path: the RateLimit field, the filter state).
func AppendDecimal(b []byte, v int64) []byte {
	if v < 0 {
		return strconv.AppendInt(b, v, 10)
	}
	var buf [20]byte
	i := len(buf) - 1
	for ; v >= 10; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	buf[i] = byte('0' + v)
	return append(b, buf[i:]...)
}

// headerBuf fits the RateLimit fields of any policy name up to 64
// characters and a partition key of 16.
const headerBuf = 192

// name returns the policy name, tolerating a nil Limit.
func (l *Limit) name() string {
	if l == nil {
		return ""
	}
	return l.Name
}

// appendSFString appends s as a structured-field String: printable ASCII
// with '"' and '\' escaped; other bytes are dropped.
func appendSFString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			continue
		}
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, '"')
}

// appendPK appends the ;pk=:<base64>: parameter when pk is not empty.
func appendPK(b []byte, pk string) []byte {
	if pk == "" {
		return b
	}
	b = append(b, ";pk=:"...)
	b = base64.StdEncoding.AppendEncode(b, []byte(pk))
	return append(b, ':')
}

// Limits of the rate-limit fields.
const (
	maxRateRequests = 1_000_000_000
	maxPer          = 8760 * time.Hour
	minPer          = time.Millisecond
	maxAnonBuckets  = 65536
)

// limitFields are the fields of a policy of rate_limits.
var limitFields = schema[Limit]{docPath: "rate_limits.<name>.", docPage: "configuration.md", fields: []field[Limit]{
	{name: "requests", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, l *Limit) bool {
		l.Requests, _ = ps.integer(p, v, 1, maxRateRequests)
		return true
	}, doc: "the tokens refilled every per"},
	{name: "per", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, l *Limit) bool {
		if s, ok := ps.str(p, v); ok {
			d, err := time.ParseDuration(s)
			if err != nil || d < minPer || d > maxPer {
				ps.add(p, "must be a duration between 1ms and 8760h such as \"1s\" or \"1m\", got "+quote(s))
			} else {
				l.Per = d
			}
		}
		return true
	}, doc: "the refill period (a Go duration)"},
	{name: "burst", read: func(ps *parser, p jsonPath, v gjson.Result, l *Limit) bool {
		l.Burst, _ = ps.integer(p, v, 1, maxRateRequests)
		return true
	}, doc: "the bucket's capacity; requests when absent"},
}}

func readLimits(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	c.limitsUnsure = !ps.object(p, v, "", func(name string, p jsonPath, v gjson.Result) bool {
		if l := ps.parseLimit(name, p, v); l != nil {
			c.limits = append(c.limits, l)
			c.limitPaths = append(c.limitPaths, p)
		} else {
			c.badLimits[name] = true
		}
		return true
	})
	return true
}

func readDefaultLimit(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	if s, ok := ps.str(p, v); ok {
		c.defaultPath, c.defaultLimit = p, ps.keep(s)
	}
	return true
}

func readAnonBuckets(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	if n, ok := ps.integer(p, v, 1, maxAnonBuckets); ok {
		c.anonBuckets = n
	}
	return true
}

// parseLimit reads one rate-limit policy.
func (ps *parser) parseLimit(name string, path jsonPath, v gjson.Result) *Limit {
	l := &Limit{Name: ps.keep(name)}
	l.quoted = strconv.Quote(l.Name)
	if !isPolicyName(name) {
		ps.add(path, "policy name must be 1 to 64 letters, digits or \"-_.:~\"")
	}
	if !readObject(ps, &limitFields, path, v, l) {
		return nil
	}
	if l.Burst == 0 {
		l.Burst = l.Requests
	}
	return l
}

// limitResolver resolves the names of rate-limit policies, and remembers
// which are used.
type limitResolver struct {
	ps    *parser
	c     *config
	index map[string]int
	used  []bool
}

func (ps *parser) newLimitResolver(c *config) *limitResolver {
	r := &limitResolver{ps: ps, c: c, index: make(map[string]int, len(c.limits)), used: make([]bool, len(c.limits))}
	for i, l := range c.limits {
		r.index[l.Name] = i
	}
	return r
}

// resolve returns the index of the policy name given at path, -1 for none
// (path zero) or an unknown one, which is reported.
func (r *limitResolver) resolve(path jsonPath, name string) int {
	if path.isZero() {
		return -1
	}
	i, ok := r.index[name]
	if !ok {
		if !r.c.limitsUnsure && !r.c.badLimits[name] { // else it follows from another error
			r.ps.add(path, "unknown rate limit policy "+quote(name))
		}
		return -1
	}
	r.used[i] = true
	return i
}

// warnUnused warns about the policies nothing uses: no route, consumer
// (of the configuration or of the snapshot judged with it) or default.
func (r *limitResolver) warnUnused() {
	for i := range r.ps.snapConsumers {
		if l := int(r.ps.snapConsumers[i].limit); l >= 0 && l < len(r.used) {
			r.used[l] = true
		}
	}
	for i, l := range r.c.limits {
		if !r.used[i] {
			r.ps.warn(r.c.limitPaths[i], "rate limit policy "+quote(l.Name)+" is not used by any route, consumer or default_rate_limit")
		}
	}
}

// buildRouteLimits marks the policies that non-public routes name.
func (p *Policy) buildRouteLimits() {
	p.routeLimits = make([]bool, len(p.limits))
	p.eachRoute(func(r *route) {
		if !r.public && r.limit >= 0 {
			p.routeLimits[r.limit] = true
		}
	})
}

// buildAnonymous precomputes the anonymous bucket keys of the rate-limit
// policies used by public routes, and the partition key of each slot.
func (p *Policy) buildAnonymous() {
	used := make([]bool, len(p.limits))
	any := false
	p.eachRoute(func(r *route) {
		if r.public && r.limit >= 0 {
			used[r.limit], any = true, true
		}
	})
	if !any {
		return
	}
	n := int(p.anonBuckets)
	p.anonPK = make([]string, n)
	var b strings.Builder
	for slot := 0; slot < n; slot++ {
		b.WriteString(shortHash(p.anonSeed^0x616e6f6e, strconv.Itoa(slot)))
	}
	all := b.String()
	for slot := range p.anonPK {
		p.anonPK[slot] = all[16*slot : 16*slot+16]
	}
	p.anonKeys = make([][]string, len(p.limits))
	for li, l := range p.limits {
		if !used[li] {
			continue
		}
		keys := make([]string, n)
		var b strings.Builder
		offsets := make([]int, n+1)
		for slot := 0; slot < n; slot++ {
			b.WriteString("anon/" + l.Name + "/" + strconv.Itoa(slot))
			offsets[slot+1] = b.Len()
		}
		all := b.String()
		for slot := range keys {
			keys[slot] = all[offsets[slot]:offsets[slot+1]]
		}
		p.anonKeys[li] = keys
	}
}
