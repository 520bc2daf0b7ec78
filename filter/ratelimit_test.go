package main

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/cpphost"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/policy"
)

// sharedConfig limits consumer "billing" to a burst of 5 with no refill to
// speak of (1 request per hour), so every admission is counted.
func sharedConfig(t *testing.T, k testKeys) []byte {
	return testConfig(t, k, func(c map[string]any) {
		c["rate_limits"].(map[string]any)["gold"] = map[string]any{"requests": 1, "per": "1h", "burst": 5}
	})
}

const sharedBurst = 5

// TestTwoVMsShareOneBucketWasm runs two instances of the compiled module over
// one shared-data store, as two Envoy workers, and makes the second VM take
// a token in the middle of every compare-and-swap of the first: the CAS
// fails, the first VM retries, and together they still admit no more than
// the bucket holds.
func TestTwoVMsShareOneBucketWasm(t *testing.T) {
	k := newTestKeys(t)
	h, err := cpphost.New(context.Background(), vmtest.Plain(t), cpphost.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cfg := sharedConfig(t, k)
	var vms [2]*cpphost.VM
	for i := range vms {
		if vms[i], err = h.NewVM(cfg); err != nil {
			t.Fatal(err)
		}
		vms[i].Properties["request.time"] = binary.LittleEndian.AppendUint64(nil, uint64(testNow.UnixNano()))
		vms[i].Properties["source.address"] = []byte("192.0.2.7:41000")
	}
	req := [][2]string{{":method", "GET"}, {":path", "/v1/orders/1"}, {"x-api-key", k.billing}}
	admitted, denied, injected := 0, 0, 0
	count := func(r cpphost.Result) {
		switch {
		case r.Local == nil:
			admitted++
		case r.Local.Status == 429:
			denied++
		default:
			t.Fatalf("unexpected %d: %s", r.Local.Status, r.Local.Body)
		}
	}
	h.BeforeSharedDataReply = func(vm *cpphost.VM, key string) {
		if vm != vms[0] || injected >= 3 {
			return
		}
		injected++
		r, err := vms[1].Request(req)
		if err != nil {
			t.Fatal(err)
		}
		count(r)
	}
	for i := range 12 {
		r, err := vms[i%2].Request(req)
		if err != nil {
			t.Fatal(err)
		}
		count(r)
	}
	t.Logf("admitted %d, denied %d, CAS retries %d", admitted, denied, h.Counter(metricname.CASRetries))
	if admitted != sharedBurst {
		t.Errorf("two VMs admitted %d requests together, want exactly the burst, %d", admitted, sharedBurst)
	}
	if h.Counter(metricname.CASRetries) == 0 {
		t.Error("no CAS retry happened: the test did not create contention")
	}
	if got := h.Counter(metricname.DecisionPrefix + "rate_limited"); got != uint64(denied) {
		t.Errorf("rate_limited counter = %d, want %d", got, denied)
	}
}

// memStore is shared data with Envoy's semantics (a CAS token of 0, or a
// missing key, writes unconditionally), and a hook run between a read and
// its reply.
type memStore struct {
	values  map[string][]byte
	cas     map[string]uint32
	next    uint32
	onGet   func()
	retries int
	gets    int
}

func (s *memStore) Get(key string) ([]byte, uint32, bool, error) {
	s.gets++
	v, ok := s.values[key]
	c := s.cas[key]
	if hook := s.onGet; hook != nil {
		s.onGet = nil
		hook()
		s.onGet = hook
	}
	return v, c, ok, nil
}

func (s *memStore) Set(key string, v []byte, cas uint32) (bool, error) {
	if cur, ok := s.cas[key]; ok && cas != 0 && cas != cur {
		s.retries++
		return true, nil
	}
	s.next++
	s.values[key], s.cas[key] = append([]byte(nil), v...), s.next
	return false, nil
}

// TestTwoVMsShareOneBucketNative is the native twin of the wasm test: two
// limiters (two VMs' worth) over one store with Envoy's semantics, the second
// taking a token inside three reads of the first.
func TestTwoVMsShareOneBucketNative(t *testing.T) {
	k := newTestKeys(t)
	cfg := sharedConfig(t, k)
	start(t, vmtest.Native(newVMContext), cfg) // registers the emulator the metrics live in
	pol, err := policy.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := pol.Decide(policy.Request{Method: "GET", Path: "/v1/orders/1", Now: testNow,
		Headers: policy.HeaderList{{"x-api-key", k.billing}}})
	if !d.Allow || d.RateLimit.Limit == nil || d.RateLimit.BucketKey == "" {
		t.Fatalf("decision %+v: want an allowed, rate-limited request", d)
	}
	st := &memStore{values: map[string][]byte{}, cas: map[string]uint32{}}
	m := newMetrics()
	a, b := limiter{store: st, metrics: m}, limiter{store: st, metrics: m}
	for _, l := range []limiter{a, b} { // both VMs start, as in Envoy
		if _, _, err := l.prepare(pol); err != nil {
			t.Fatal(err)
		}
	}
	contend(t, st, a, b, d.RateLimit.BucketKey, d.RateLimit.Limit)
}

// contend has limiters a and b take 12 tokens from the bucket at key by
// turns, b also taking inside three of a's reads of the bucket once it
// exists: together they must admit exactly sharedBurst, through at least
// one CAS mismatch.
func contend(t *testing.T, st *memStore, a, b limiter, key string, lim *policy.Limit) {
	t.Helper()
	admitted, injected := 0, 0
	take := func(l limiter) {
		if res, ok := l.take(key, lim, testNow); ok && res.Allowed {
			admitted++
		}
	}
	for i := range 12 {
		if i%2 == 0 {
			st.onGet = func() {
				if _, exists := st.values[key]; exists && injected < 3 {
					injected++
					take(b)
				}
			}
			take(a)
			st.onGet = nil
		} else {
			take(b)
		}
	}
	if admitted != sharedBurst {
		t.Errorf("two limiters admitted %d, want exactly the burst, %d", admitted, sharedBurst)
	}
	if st.retries == 0 {
		t.Error("no CAS mismatch happened: the test did not create contention")
	}
}

// TestCASExhaustionFailsClosed: a bucket contended through every attempt
// denies the request and counts it.
func TestCASExhaustionFailsClosed(t *testing.T) {
	k := newTestKeys(t)
	cfg := sharedConfig(t, k)
	e := start(t, vmtest.Native(newVMContext), cfg)
	lim := &policy.Limit{Name: "gold", Requests: 1000, Per: 1e9, Burst: 1000}
	st := &memStore{values: map[string][]byte{}, cas: map[string]uint32{}}
	st.Set("b", []byte{}, 0)
	other := limiter{store: st, metrics: newMetrics()}
	st.onGet = func() { other.take("b", lim, testNow.Add(-1)) } // always races
	l := limiter{store: st, metrics: newMetrics()}
	res, ok := l.take("b", lim, testNow)
	if ok || res.Allowed {
		t.Fatalf("take under endless contention = %+v, %v; want a denial", res, ok)
	}
	if res.RetryAfter < 1e9 {
		t.Errorf("RetryAfter = %v, want at least a second", res.RetryAfter)
	}
	if n := e.counter(metricname.CASExhausted); n != 1 {
		t.Errorf("%s = %d, want 1", metricname.CASExhausted, n)
	}
}

// TestBucketsArePerPluginName: two apiguard plugins over one shared-data
// store (one VM id: Istio sets none, so every WasmPlugin of a proxy shares
// "") keep separate buckets when their plugin_name differs, and a plugin
// started again under the same name finds its own.
func TestBucketsArePerPluginName(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		key := [2]string{"x-api-key", k.billing}
		e := start(t, vm, sharedConfig(t, k), withPluginName("team-a.apiguard"))
		for i := range sharedBurst {
			if o := e.do("/v1/orders/1", key); o.local != nil {
				t.Fatalf("request %d denied: %d %s", i, o.local.StatusCode, o.local.Data)
			}
		}
		if o := e.do("/v1/orders/1", key); o.local == nil || o.local.StatusCode != 429 {
			t.Fatalf("request past the burst: %+v, want 429", o.local)
		}

		e.restart(withPluginName("team-b.apiguard"))
		if o := e.do("/v1/orders/1", key); o.local != nil {
			t.Fatalf("plugin team-b.apiguard used team-a's bucket: %d %s", o.local.StatusCode, o.local.Data)
		}

		e.restart(withPluginName("team-a.apiguard"))
		if o := e.do("/v1/orders/1", key); o.local == nil || o.local.StatusCode != 429 {
			t.Fatalf("team-a.apiguard started again: %+v, want 429 (its bucket is empty)", o.local)
		}
		if logs := strings.Join(e.logs(logInfo), "\n"); !strings.Contains(logs, `"plugin/15:team-a.apiguard/" from plugin_name`) {
			t.Errorf("start log does not name the bucket prefix:\n%s", logs)
		}
	})
}

func TestPluginName(t *testing.T) {
	props := func(m map[string]string) func([]string) ([]byte, error) {
		return func(path []string) ([]byte, error) {
			if v, ok := m[path[0]]; ok {
				return []byte(v), nil
			}
			return nil, types.ErrorStatusNotFound
		}
	}
	for _, tc := range []struct {
		props      map[string]string
		name, from string
	}{
		{map[string]string{"plugin_name": "ns.apiguard", "plugin_root_id": "apiguard"}, "ns.apiguard", "plugin_name"},
		{map[string]string{"plugin_name": "", "plugin_root_id": "apiguard"}, "apiguard", "plugin_root_id"},
		{map[string]string{"plugin_root_id": "apiguard"}, "apiguard", "plugin_root_id"},
		{map[string]string{}, "", ""},
	} {
		if name, from := pluginName(props(tc.props)); name != tc.name || from != tc.from {
			t.Errorf("pluginName(%v) = %q, %q; want %q, %q", tc.props, name, from, tc.name, tc.from)
		}
	}
	// The prefix is unambiguous: no name's prefix is a prefix of another's
	// key, whatever the names contain.
	if a, b := pluginPrefix("a/1:b")+"consumer/x", pluginPrefix("a")+"1:b/consumer/x"; a == b {
		t.Errorf("prefixes collide: %q", a)
	}
	if got := pluginPrefix(""); got != "plugin/0:/" {
		t.Errorf("pluginPrefix(\"\") = %q", got)
	}
}

// TestTwoVMsCreateOneBucketNative: with no bucket created at start, the
// first take creates it full and then takes by compare-and-swap, so two
// limiters contending for it from then on (the second taking inside the
// first's reads of the existing bucket) still admit exactly the burst,
// and a take never refills a bucket another one created.
func TestTwoVMsCreateOneBucketNative(t *testing.T) {
	start(t, vmtest.Native(newVMContext), sharedConfig(t, newTestKeys(t))) // registers the emulator the metrics live in
	lim := &policy.Limit{Name: "gold", Requests: 1, Per: 3600e9, Burst: sharedBurst}
	st := &memStore{values: map[string][]byte{}, cas: map[string]uint32{}}
	m := newMetrics()
	a, b := limiter{store: st, metrics: m}, limiter{store: st, metrics: m}
	const key = "consumer/gold/billing"
	contend(t, st, a, b, key, lim)
}

// TestEmptyBucketDecidedWithoutReading: once a take finds a bucket without
// a token, the worker's next takes of it answer what reading the shared
// state would (the same retry and reset), without reading it, until the
// next token is due; then it reads, and takes. Another limit of the same
// name (a configuration pushed since) and a new policy read again.
func TestEmptyBucketDecidedWithoutReading(t *testing.T) {
	start(t, vmtest.Native(newVMContext), sharedConfig(t, newTestKeys(t))) // registers the emulator the metrics live in
	lim := &policy.Limit{Name: "tiny", Requests: 1, Per: 10 * time.Second, Burst: 1}
	st := &memStore{values: map[string][]byte{}, cas: map[string]uint32{}}
	key := strings.Clone("consumer/tiny/a")
	l := limiter{store: st, metrics: newMetrics(), empty: new(emptyBuckets)}
	reader := limiter{store: st, metrics: newMetrics()} // remembers nothing: reads every time
	take := func(at time.Duration, wantAllowed bool, wantGets int) {
		t.Helper()
		st.gets = 0
		res, ok := l.take(key, lim, testNow.Add(at))
		if !ok || res.Allowed != wantAllowed || st.gets != wantGets {
			t.Fatalf("take at %v: %+v, %v, %d reads; want allowed %v, %d reads", at, res, ok, st.gets, wantAllowed, wantGets)
		}
		if !res.Allowed {
			if want, _ := reader.take(key, lim, testNow.Add(at)); res != want {
				t.Fatalf("take at %v from the remembered state: %+v; the shared state gives %+v", at, res, want)
			}
		}
	}
	take(0, true, 2)               // created full, read back, taken
	take(time.Second, false, 1)    // read: no token
	take(2*time.Second, false, 0)  // remembered
	take(9*time.Second, false, 0)  // still before the next token
	take(10*time.Second, true, 1)  // due: read, taken
	take(11*time.Second, false, 1) // empty again: read
	take(12*time.Second, false, 0) // remembered again
	other := &policy.Limit{Name: "tiny", Requests: 1, Per: 10 * time.Second, Burst: 1}
	st.gets = 0
	if _, ok := l.take(key, other, testNow.Add(13*time.Second)); !ok || st.gets != 1 {
		t.Fatalf("another limit of the bucket's name: %d reads, want 1", st.gets)
	}
	p := &pluginContext{limiter: l}
	p.setPolicy(nil)
	st.gets = 0
	if _, ok := l.take(key, other, testNow.Add(14*time.Second)); !ok || st.gets != 1 {
		t.Fatalf("after a new policy: %d reads, want 1", st.gets)
	}
}
