package quotatest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsvc "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/apiguard/apiguard/internal/ratelimitconf"
	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keymat"
)

func TestMain(m *testing.M) {
	code := m.Run()
	closeHosts()
	os.Exit(code)
}

// testConfig is an apiguard configuration with consumers given as
// "id=quota" ("id=" for none; the key is "key-<id>"), the route
// /v1/reports with quota "reports", the public route /healthz, and quotas.
func testConfig(consumers []string, quotas map[string]string, extra string) []byte {
	var cs, qs []string
	for _, c := range consumers {
		id, quota, _ := strings.Cut(c, "=")
		q := ""
		if quota != "" {
			q = fmt.Sprintf(`, "quota": %q`, quota)
		}
		cs = append(cs, fmt.Sprintf(`{"id": %q%s, "keys": [{"id": "%s-1", "sha256": %q}]}`, id, q, id, keymat.Hash("key-"+id)))
	}
	for name, q := range quotas {
		qs = append(qs, fmt.Sprintf(`%q: %s`, name, q))
	}
	return []byte(`{
	"consumers": [` + strings.Join(cs, ",\n") + `],
	"routes": [
		{"name": "reports", "path": "/v1/reports", "quota": "reports"},
		{"name": "orders", "path": "/v1/orders"},
		{"name": "health", "path": "/healthz", "public": true}
	],
	"quotas": {` + strings.Join(qs, ", ") + `}` + extra + `
}`)
}

// key is the header carrying consumer id's key.
func key(id string) [2]string { return [2]string{"x-api-key", "key-" + id} }

// stackFor generates the service configuration for config with apiguard's
// own generator and starts Redis and the service with it.
func stackFor(t *testing.T, config []byte) *stack {
	t.Helper()
	yml, _, err := ratelimitconf.Generate(config, ratelimitconf.DefaultDomain)
	if err != nil {
		t.Fatal(err)
	}
	return startStack(t, yml)
}

// avoidWindowEdge waits for the next window when fewer than 20 s of the
// current one are left, so that no test sees its counters reset midway.
func avoidWindowEdge(t *testing.T, window time.Duration) {
	w := int64(window / time.Second)
	if left := w - time.Now().Unix()%w; left < 20 {
		t.Logf("waiting %d s for the next %v window", left+1, window)
		time.Sleep(time.Duration(left+1) * time.Second)
	}
}

// want fails the test unless o has the status.
func (o outcome) want(t *testing.T, what string, status int) {
	t.Helper()
	if o.status != status {
		t.Fatalf("%s: status %d, want %d (descriptors %v, response %v, error %v)", what, o.status, status, o.descriptors, o.resp, o.err)
	}
}

// TestShippedFiles runs the shipped configuration (examples/config.json,
// the demo keys, envoy.yaml's actions and deploy/ratelimit/apiguard.yaml)
// against the real service.
func TestShippedFiles(t *testing.T) {
	root := repoRoot(t)
	config, err := os.ReadFile(filepath.Join(root, "examples", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	yml, err := os.ReadFile(filepath.Join(root, "deploy", "ratelimit", "apiguard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, yml)
	e := newEnvoys(t, 1, config, s.grpcAddr)[0]
	billing := [2]string{"x-api-key", demoKey(t, root, "billing-2026")}
	avoidWindowEdge(t, 24*time.Hour)

	for _, forged := range [][][2]string{nil, {{"x-apiguard-quota", "free-minute"}, {"x-apiguard-consumer", "reports"}}} {
		o := e.do("/v1/orders", append([][2]string{billing}, forged...)...)
		o.want(t, "billing", 200)
		if !isQuotaDescriptor(o.descriptors, "gold-daily", "billing") {
			t.Errorf("forged %v: descriptors %v, want (gold-daily, billing)", forged, o.descriptors)
		}
		if o.err != nil || len(o.resp.GetStatuses()) != 1 {
			t.Fatalf("service: %v %v", o.resp, o.err)
		}
		st := o.resp.GetStatuses()[0]
		if l := st.GetCurrentLimit(); l.GetRequestsPerUnit() != 100000 || l.GetUnit() != rlsvc.RateLimitResponse_RateLimit_DAY {
			t.Errorf("limit %v, want 100000 per DAY", l)
		}
		for _, h := range o.upstream {
			if h[1] == billing[1] {
				t.Errorf("the key reached the upstream (and the rate-limit filter) in %s", h[0])
			}
		}
	}
	if st := e.do("/v1/orders", billing).resp.GetStatuses()[0]; st.GetLimitRemaining() != 100000-3 {
		t.Errorf("remaining %d after 3 requests, want %d", st.GetLimitRemaining(), 100000-3)
	}
	// Public route, forged headers: no descriptor, the service is not asked.
	o := e.do("/healthz", [2]string{"x-apiguard-quota", "gold-daily"}, [2]string{"x-apiguard-consumer", "billing"})
	o.want(t, "public", 200)
	if len(o.descriptors) != 0 || o.resp != nil {
		t.Errorf("public route: descriptors %v", o.descriptors)
	}
	// Denied by apiguard: never reaches the rate-limit filter.
	o = e.do("/v1/orders", [2]string{"x-api-key", "agk_nope"}, [2]string{"x-apiguard-quota", "gold-daily"})
	o.want(t, "unknown key", 401)
	if o.resp != nil {
		t.Error("a denied request was counted")
	}
}

// demoKey reads the key id's key from examples/demo-keys.txt.
func demoKey(t *testing.T, root, id string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "examples", "demo-keys.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "\t"); ok && k == id {
			return v
		}
	}
	t.Fatalf("no demo key %s", id)
	return ""
}

// isQuotaDescriptor reports whether ds is exactly the one quota descriptor
// of a consumer, as the service configuration expects it.
func isQuotaDescriptor(ds []*rlcommon.RateLimitDescriptor, quota, consumer string) bool {
	want := &rlcommon.RateLimitDescriptor{Entries: []*rlcommon.RateLimitDescriptor_Entry{
		{Key: ratelimitconf.DescriptorQuota, Value: quota},
		{Key: ratelimitconf.DescriptorConsumer, Value: consumer},
	}}
	return len(ds) == 1 && proto.Equal(ds[0], want)
}

// TestQuotaSharedAcrossTwoEnvoys: two Envoys, each with its own apiguard
// and connection, send one consumer's requests at once; together they admit
// exactly the quota, then OVER_LIMIT on both.
func TestQuotaSharedAcrossTwoEnvoys(t *testing.T) {
	const quota, perEnvoy = 25, 20
	config := testConfig([]string{"alpha=team-daily", "beta=team-daily"},
		map[string]string{"team-daily": fmt.Sprintf(`{"requests": %d, "per": "day"}`, quota), "reports": `{"requests": 1, "per": "day"}`}, "")
	s := stackFor(t, config)
	envoys := newEnvoys(t, 2, config, s.grpcAddr)
	avoidWindowEdge(t, 24*time.Hour)

	var mu sync.Mutex
	counts := map[int]int{}
	perEnvoyOK := make([]int, len(envoys))
	var wg sync.WaitGroup
	for i, e := range envoys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perEnvoy {
				o := e.do("/v1/orders", key("alpha"))
				mu.Lock()
				counts[o.status]++
				if o.status == 200 {
					perEnvoyOK[i]++
				}
				if o.err != nil {
					counts[-1]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if counts[200] != quota || counts[429] != 2*perEnvoy-quota || counts[-1] != 0 {
		t.Fatalf("admitted %d, OVER_LIMIT %d, errors %d; want exactly %d admitted and %d OVER_LIMIT",
			counts[200], counts[429], counts[-1], quota, 2*perEnvoy-quota)
	}
	if perEnvoyOK[0] == 0 || perEnvoyOK[1] == 0 {
		t.Errorf("admissions per Envoy %v: both should have admitted some", perEnvoyOK)
	}
	for i, e := range envoys {
		o := e.do("/v1/orders", key("alpha"))
		o.want(t, fmt.Sprintf("envoy %d after the quota", i), 429)
		if st := o.resp.GetStatuses()[0]; st.GetCode() != rlsvc.RateLimitResponse_OVER_LIMIT || st.GetLimitRemaining() != 0 {
			t.Errorf("status %v", st)
		}
	}
	// Another consumer on the same plan has its own count.
	envoys[1].do("/v1/orders", key("beta")).want(t, "beta", 200)
	t.Logf("admitted per Envoy: %v", perEnvoyOK)
}

// TestQuotaConsumersAndPlansCountedApart: each (quota, consumer) pair has
// its own counter: consumers of one plan, plans, and a route's quota.
func TestQuotaConsumersAndPlansCountedApart(t *testing.T) {
	config := testConfig([]string{"alpha=gold", "beta=gold", "gamma="}, map[string]string{
		"gold":    `{"requests": 4, "per": "day"}`,
		"free":    `{"requests": 2, "per": "day"}`,
		"reports": `{"requests": 1, "per": "day"}`,
	}, `, "default_quota": "free"`)
	s := stackFor(t, config)
	e := newEnvoys(t, 1, config, s.grpcAddr)[0]
	avoidWindowEdge(t, 24*time.Hour)

	steps := []struct {
		consumer, path string
		admitted       int
		quota          string
	}{
		{"alpha", "/v1/orders", 4, "gold"},
		{"beta", "/v1/orders", 4, "gold"},      // same plan, another consumer
		{"gamma", "/v1/orders", 2, "free"},     // default_quota
		{"alpha", "/v1/reports", 1, "reports"}, // the route's quota, not the plan
		{"gamma", "/v1/reports", 1, "reports"},
	}
	for _, st := range steps {
		for i := 0; i <= st.admitted; i++ {
			want := 200
			if i == st.admitted {
				want = 429
			}
			o := e.do(st.path, key(st.consumer))
			o.want(t, fmt.Sprintf("%s %s request %d", st.consumer, st.path, i+1), want)
			if !isQuotaDescriptor(o.descriptors, st.quota, st.consumer) {
				t.Errorf("%s %s: descriptors %v", st.consumer, st.path, o.descriptors)
			}
		}
	}
}

// TestQuotaDay: a day quota admits its requests, then OVER_LIMIT until the
// next UTC midnight, which the service reports as the reset.
func TestQuotaDay(t *testing.T) {
	config := testConfig([]string{"alpha=daily"}, map[string]string{
		"daily": `{"requests": 3, "per": "day"}`, "reports": `{"requests": 1, "per": "day"}`}, "")
	s := stackFor(t, config)
	e := newEnvoys(t, 1, config, s.grpcAddr)[0]
	avoidWindowEdge(t, 24*time.Hour)
	for i := 1; i <= 4; i++ {
		o := e.do("/v1/orders", key("alpha"))
		want := 200
		if i == 4 {
			want = 429
		}
		o.want(t, fmt.Sprintf("request %d", i), want)
		st := o.resp.GetStatuses()[0]
		if l := st.GetCurrentLimit(); l.GetUnit() != rlsvc.RateLimitResponse_RateLimit_DAY || l.GetRequestsPerUnit() != 3 {
			t.Fatalf("limit %v", l)
		}
		now := time.Now().UTC()
		midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		if d := st.GetDurationUntilReset().AsDuration(); d-midnight.Sub(now) > 5*time.Second || midnight.Sub(now)-d > 5*time.Second {
			t.Errorf("reset in %v, want about %v (next UTC midnight)", d, midnight.Sub(now))
		}
	}
}

// TestQuotaUnits: every unit apiguard accepts is one the service loads and
// enforces, with the window docs/quotas.md states.
func TestQuotaUnits(t *testing.T) {
	windows := map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour,
		"day": 24 * time.Hour, "week": 7 * 24 * time.Hour, "month": 30 * 24 * time.Hour, "year": 365 * 24 * time.Hour}
	quotas := map[string]string{"reports": `{"requests": 1, "per": "day"}`}
	var consumers []string
	for _, u := range policy.QuotaUnits {
		quotas["per-"+u] = `{"requests": 1000, "per": "` + u + `"}`
		consumers = append(consumers, "c-"+u+"=per-"+u)
	}
	// Every character a quota name may have, and a consumer id with more.
	const oddQuota, oddConsumer = "Plan.v2:gold~x_y-z", "team_a/b@c.example!"
	quotas[oddQuota] = `{"requests": 1, "per": "hour"}`
	consumers = append(consumers, oddConsumer+"="+oddQuota)
	config := testConfig(consumers, quotas, "")
	s := stackFor(t, config)
	e := newEnvoys(t, 1, config, s.grpcAddr)[0]
	avoidWindowEdge(t, time.Hour)
	e.do("/v1/orders", key(oddConsumer)).want(t, "odd names", 200)
	if o := e.do("/v1/orders", key(oddConsumer)); o.status != 429 || !isQuotaDescriptor(o.descriptors, oddQuota, oddConsumer) {
		t.Errorf("odd names, second request: status %d, descriptors %v", o.status, o.descriptors)
	}
	for _, u := range policy.QuotaUnits {
		o := e.do("/v1/orders", key("c-"+u))
		o.want(t, u, 200)
		st := o.resp.GetStatuses()[0]
		wantUnit := rlsvc.RateLimitResponse_RateLimit_Unit(rlsvc.RateLimitResponse_RateLimit_Unit_value[strings.ToUpper(u)])
		if l := st.GetCurrentLimit(); l.GetUnit() != wantUnit || l.GetRequestsPerUnit() != 1000 || st.GetLimitRemaining() != 999 {
			t.Errorf("%s: limit %v, remaining %d", u, l, st.GetLimitRemaining())
		}
		w := windows[u]
		now := time.Now().Unix()
		wantReset := time.Duration(int64(w/time.Second)-now%int64(w/time.Second)) * time.Second
		// The service and the test read the clock at different moments: a
		// window may end in between, hence the comparison modulo w.
		if d := st.GetDurationUntilReset().AsDuration(); d <= 0 || d > w || !nearModulo(d, wantReset, w, 2*time.Second) {
			t.Errorf("%s: reset in %v, want %v (windows of %v from the Unix epoch)", u, d, wantReset, w)
		}
	}
}

// nearModulo reports whether a and b are within tol of each other modulo w.
func nearModulo(a, b, w, tol time.Duration) bool {
	d := (a - b) % w
	if d < 0 {
		d += w
	}
	return d <= tol || w-d <= tol
}

// TestServiceDown: with the service stopped, Envoy's check fails, and
// envoy.yaml's failure_mode_deny: false (as docs/quotas.md documents) lets the
// request through, uncounted.
func TestServiceDown(t *testing.T) {
	config := testConfig([]string{"alpha=daily"}, map[string]string{
		"daily": `{"requests": 100, "per": "day"}`, "reports": `{"requests": 1, "per": "day"}`}, "")
	s := stackFor(t, config)
	e := newEnvoys(t, 1, config, s.grpcAddr)[0]
	if e.rl.filter.GetFailureModeDeny() {
		t.Fatal("envoy.yaml sets failure_mode_deny: true, docs/quotas.md documents false")
	}
	e.do("/v1/orders", key("alpha")).want(t, "before", 200)
	s.service.stop()
	start := time.Now()
	o := e.do("/v1/orders", key("alpha"))
	o.want(t, "service down", 200)
	if o.err == nil {
		t.Fatalf("the check succeeded with the service stopped: %v", o.resp)
	}
	t.Logf("service down: %v after %v", status.Code(o.err), time.Since(start).Round(time.Millisecond))
	if c := status.Code(o.err); c != codes.Unavailable {
		t.Errorf("code %v, want Unavailable", c)
	}
}

// TestRedisDown: with Redis stopped, the service answers the check with an
// error (it does not guess), and Envoy lets the request through. A Redis
// started again on the same address is used again, with the counters it
// lost (this test's Redis persists nothing) starting from zero.
func TestRedisDown(t *testing.T) {
	config := testConfig([]string{"alpha=daily"}, map[string]string{
		"daily": `{"requests": 100, "per": "day"}`, "reports": `{"requests": 1, "per": "day"}`}, "")
	s := stackFor(t, config)
	e := newEnvoys(t, 1, config, s.grpcAddr)[0]
	avoidWindowEdge(t, 24*time.Hour)
	for range 3 {
		e.do("/v1/orders", key("alpha")).want(t, "before", 200)
	}
	s.redis.stop()
	start := time.Now()
	o := e.do("/v1/orders", key("alpha"))
	took := time.Since(start)
	o.want(t, "Redis down", 200)
	if o.err == nil {
		t.Fatalf("the check succeeded with Redis stopped: %v", o.resp)
	}
	t.Logf("Redis down: %v (%v) after %v", status.Code(o.err), o.err, took.Round(time.Millisecond))
	if s.service.exited() {
		t.Fatal("the service exited when Redis went down")
	}

	_, port, _ := strings.Cut(s.redisAddr, ":")
	startRedisOn(t, port)
	restarted := time.Now()
	deadline := restarted.Add(20 * time.Second)
	for {
		o := e.do("/v1/orders", key("alpha"))
		if o.err == nil {
			if r := o.resp.GetStatuses()[0].GetLimitRemaining(); r != 99 {
				t.Errorf("after Redis came back empty: remaining %d, want 99", r)
			}
			t.Logf("counting again %v after Redis restarted", time.Since(restarted).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service still fails 20 s after Redis restarted: %v", o.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
