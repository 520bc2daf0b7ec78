package policy

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTake(t *testing.T) {
	l := &Limit{Name: "default", Requests: 10, Per: time.Second, Burst: 20}
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var state []byte
	var res TakeResult
	for i := 0; i < 20; i++ {
		state, res = l.Take(state, t0)
		if !res.Allowed || res.Remaining != int64(19-i) {
			t.Fatalf("request %d: %+v", i, res)
		}
	}
	state, res = l.Take(state, t0)
	if res.Allowed || res.Remaining != 0 || res.RetryAfter != 100*time.Millisecond || res.Reset != 2*time.Second {
		t.Fatalf("21st request: %+v", res)
	}
	state, res = l.Take(state, t0.Add(100*time.Millisecond))
	if !res.Allowed || res.Remaining != 0 {
		t.Fatalf("after refill of one token: %+v", res)
	}
	// Clock going backwards: no refill, no negative durations.
	state, res = l.Take(state, t0.Add(-time.Hour))
	if res.Allowed || res.RetryAfter <= 0 || res.Reset <= 0 {
		t.Fatalf("clock backwards: %+v", res)
	}
	// A long pause refills the bucket, capped at the burst.
	_, res = l.Take(state, t0.Add(time.Hour))
	if !res.Allowed || res.Remaining != 19 {
		t.Fatalf("after an hour: %+v", res)
	}
	// Small backwards jitter keeps the stored timestamp.
	s1, _ := l.Take(nil, t0)
	s2, _ := l.Take(s1, t0.Add(-time.Millisecond))
	if _, ts, _ := decodeState(s2); ts != t0.UnixNano() {
		t.Errorf("timestamp moved back on jitter")
	}
}

func TestTakeBadState(t *testing.T) {
	l := &Limit{Name: "x", Requests: 1, Per: time.Minute}
	now := time.Unix(1000, 0)
	bad := [][]byte{nil, {}, {1, 2, 3}, make([]byte, stateLen), encodeState(math.NaN(), 0), encodeState(-1, 0), encodeState(5, 0), encodeState(math.Inf(1), 0)}
	for _, s := range bad {
		_, res := l.Take(s, now)
		if !res.Allowed || res.Remaining != 0 || res.Reset != time.Minute {
			t.Errorf("state %v: %+v", s, res)
		}
	}
	// Unusable limits never limit.
	for _, l := range []*Limit{nil, {}, {Requests: 1}, {Per: time.Second}} {
		if _, res := l.Take(nil, now); !res.Allowed {
			t.Errorf("%+v limited", l)
		}
	}
	// Burst defaults to Requests.
	l = &Limit{Name: "x", Requests: 3, Per: time.Second}
	if _, res := l.Take(nil, now); res.Remaining != 2 {
		t.Errorf("default burst: %+v", res)
	}
}

func TestRateLimitHeaders(t *testing.T) {
	gold := &Limit{Name: "gold", Requests: 600, Per: time.Minute, Burst: 100}
	if got, want := gold.PolicyHeader("abc"), `"gold";q=100;w=10;pk=:YWJj:`; got != want {
		t.Errorf("PolicyHeader = %s, want %s", got, want)
	}
	if got, want := gold.PolicyHeader(""), `"gold";q=100;w=10`; got != want {
		t.Errorf("PolicyHeader = %s, want %s", got, want)
	}
	res := TakeResult{Remaining: 7, Reset: 1500 * time.Millisecond}
	if got, want := gold.Header(res, "abc"), `"gold";r=7;t=2;pk=:YWJj:`; got != want {
		t.Errorf("Header = %s, want %s", got, want)
	}
	odd := &Limit{Name: `a"b\`, Requests: 1, Per: time.Millisecond}
	if got, want := odd.PolicyHeader(""), `"a\"b\\";q=1;w=1`; got != want {
		t.Errorf("PolicyHeader = %s, want %s", got, want)
	}
	var none *Limit
	if got := none.Header(TakeResult{Remaining: -1, Reset: -1}, ""); got != `"";r=0;t=0` {
		t.Errorf("nil Header = %s", got)
	}
}

func TestRateLimited(t *testing.T) {
	p, keys := loadExample(t)
	d := p.Decide(get("/v1/orders/1", "x-api-key", keys["billing-2026"]))
	var state []byte
	var res TakeResult
	for i := 0; i <= 100; i++ {
		state, res = d.RateLimit.Limit.Take(state, now)
	}
	if res.Allowed {
		t.Fatal("101st request allowed")
	}
	rl := RateLimited(d, res)
	if rl.Allow || rl.Status != 429 || rl.Reason != ReasonRateLimited || rl.Problem.Type != ProblemTypeBase+"rate_limited" || rl.Identity.Consumer != "billing" || rl.Route != "get-order" {
		t.Errorf("RateLimited: %+v", rl)
	}
	if rl.Upstream.SetHeaders != [3][2]string{} || rl.Upstream.RemoveHeaders != nil || rl.Upstream.NewPath != "" {
		t.Errorf("upstream changes kept: %+v", rl)
	}
	h := map[string]string{}
	for _, kv := range rl.Problem.ResponseHeaders {
		h[kv[0]] = kv[1]
	}
	pk := ";pk=:" + b64(d.RateLimit.PartitionKey) + ":"
	if h["retry-after"] != "1" || h["ratelimit-policy"] != `"gold";q=100;w=10`+pk || h["ratelimit"] != `"gold";r=0;t=10`+pk {
		t.Errorf("headers: %q", h)
	}
	if !strings.Contains(rl.Problem.Detail, `"gold"`) {
		t.Errorf("detail: %q", rl.Problem.Detail)
	}
	// Without a limit, only Retry-After (at least 1 s).
	rl = RateLimited(Decision{Allow: true}, TakeResult{})
	if len(rl.Problem.ResponseHeaders) != 1 || rl.Problem.ResponseHeaders[0] != [2]string{"retry-after", "1"} {
		t.Errorf("no limit: %q", rl.Problem.ResponseHeaders)
	}
	if rl = RateLimited(d, TakeResult{RetryAfter: 2500 * time.Millisecond}); rl.Problem.ResponseHeaders[0][1] != "3" {
		t.Errorf("Retry-After = %s, want 3", rl.Problem.ResponseHeaders[0][1])
	}
}

func b64(s string) string {
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var out []byte
	for i := 0; i < len(s); i += 3 {
		var n uint32
		k := 0
		for j := 0; j < 3; j++ {
			n <<= 8
			if i+j < len(s) {
				n |= uint32(s[i+j])
				k++
			}
		}
		for j := 0; j < 4; j++ {
			if j <= k {
				out = append(out, enc[n>>(18-6*j)&63])
			} else {
				out = append(out, '=')
			}
		}
	}
	return string(out)
}

// TestRateLimitHeadersAllocateOnce: each header value costs one allocation
// (the string), which matters in a wasm VM where an allocation costs ~1 µs.
func TestRateLimitHeadersAllocateOnce(t *testing.T) {
	l := &Limit{Name: strings.Repeat("n", 64), Requests: 1_000_000_000, Per: 8760 * time.Hour, Burst: 1_000_000_000}
	res := TakeResult{Allowed: true, Remaining: 999_999_999, Reset: 8760 * time.Hour}
	pk := shortHash(1, "consumer")
	if n := testing.AllocsPerRun(100, func() { l.PolicyHeader(pk) }); n != 1 {
		t.Errorf("PolicyHeader: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { l.Header(res, pk) }); n != 1 {
		t.Errorf("Header: %v allocations, want 1", n)
	}
}

// TestFields: the RateLimit-Policy and RateLimit values from Fields are
// PolicyHeader's and Header's.
func TestFields(t *testing.T) {
	for _, l := range []*Limit{{Name: "gold", Requests: 10, Per: time.Second, Burst: 20}, {Name: `q"\x`, Requests: 1, Per: time.Hour}} {
		for _, pk := range []string{"", "0123456789abcdef"} {
			f := l.Fields(pk)
			if f.Policy != l.PolicyHeader(pk) {
				t.Errorf("%q %q: policy %s, want %s", l.Name, pk, f.Policy, l.PolicyHeader(pk))
			}
			for _, res := range []TakeResult{{}, {Remaining: 7, Reset: 1500 * time.Millisecond}, {Remaining: -1, Reset: -time.Second}} {
				if got, want := string(f.AppendHeader(nil, res)), l.Header(res, pk); got != want {
					t.Errorf("%q %q %+v: %s, want %s", l.Name, pk, res, got, want)
				}
			}
		}
	}
}

// TestRateLimitedWithKeepsText: RateLimitedWith with a Fields kept across
// 429s gives RateLimited's decision whatever came before, and formats
// nothing for a repeat of the last numbers.
func TestRateLimitedWithKeepsText(t *testing.T) {
	l := &Limit{Name: "gold", Requests: 10, Per: time.Second, Burst: 20}
	d := Decision{Allow: true, Route: "r", RateLimit: RateLimiting{Limit: l, BucketKey: "consumer/gold/c", PartitionKey: "0123456789abcdef"}}
	f := l.Fields(d.RateLimit.PartitionKey)
	results := []TakeResult{
		{RetryAfter: 1500 * time.Millisecond, Reset: 2 * time.Second},
		{RetryAfter: 1500 * time.Millisecond, Reset: 2 * time.Second},
		{RetryAfter: 1200 * time.Millisecond, Reset: 2 * time.Second},
		{RetryAfter: 1200 * time.Millisecond, Reset: 3 * time.Second},
		{RetryAfter: 1200 * time.Millisecond, Remaining: 2, Reset: 3 * time.Second},
		{RetryAfter: 3 * time.Second, Reset: 2 * time.Second},
		{RetryAfter: 1500 * time.Millisecond, Reset: 2 * time.Second},
	}
	for i, res := range results {
		if got, want := RateLimitedWith(d, res, &f), RateLimited(d, res); !reflect.DeepEqual(got, want) {
			t.Errorf("result %d %+v: %+v, want %+v", i, res, got, want)
		}
	}
	res := results[0]
	if n := testing.AllocsPerRun(100, func() { RateLimitedWith(d, res, &f) }); n != 0 {
		t.Errorf("a repeated 429: %v allocations, want 0", n)
	}
}

// TestAppendDecimal: AppendDecimal is strconv.AppendInt in base 10.
func TestAppendDecimal(t *testing.T) {
	for _, v := range []int64{0, 1, 9, 10, 11, 99, 100, 999, 1000, 12345, 999999999, 1000000000, math.MaxInt64, -1, -10, math.MinInt64} {
		if got, want := string(AppendDecimal([]byte("x="), v)), "x="+strconv.FormatInt(v, 10); got != want {
			t.Errorf("%d: %s, want %s", v, got, want)
		}
	}
}
