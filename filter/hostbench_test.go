package main

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/cpphost"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/internal/wasmvm"
	"github.com/apiguard/apiguard/policy"
)

// fixtureModule returns build/fixtures/name, which make bench builds.
func fixtureModule(b *testing.B, name string) []byte {
	b.Helper()
	wasm, err := wasmvm.Fixture(".", name)
	if err != nil {
		b.Fatalf("%v: run make bench (it builds the fixtures)", err)
	}
	return wasm
}

// hostVM starts wasm with config in cpphost under the envoy-1.33 profile
// (the benchmark host) as one worker with the test's request properties:
// a driver.Env whose VM a benchmark may also read.
func hostVM(b *testing.B, wasm, config []byte) *cpphost.Env {
	b.Helper()
	// ReserveMemory: without it wazero copies the whole linear memory at
	// every memory.grow while a fresh VM's heap grows, which V8 does not
	// (it reserves the address space), and the copies land in the mean.
	h, err := cpphost.New(context.Background(), wasm, cpphost.Options{Profile: cpphost.Envoy133, ReserveMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		for _, v := range h.Violations() {
			b.Errorf("cpphost: %s", v)
		}
		h.Close()
	})
	e, err := cpphost.NewEnv(h, driver.Config{Configuration: config, Properties: map[string][]byte{
		"source.address": []byte(testSourceAddress), "request.time": driver.TimeProperty(testNow)}})
	if err != nil {
		b.Fatal(err)
	}
	if e.Failed() {
		b.Fatalf("the plugin refused the configuration; logs: %q", e.Logs(logCritical))
	}
	return e
}

// BenchmarkHostRequest measures one request through the compiled filter in
// cpphost, per outcome, and the same requests through the floor fixture
// (filter/internal/testplugins/floor: the host calls of an allowed,
// rate-limited request, no decision) in the same run. The apiguard results
// carry x-floor, the ratio to the floor's time for the same request, and
// allocs/req, heap allocations per request counted in the benchmark build
// of the filter (build/fixtures/apiguard-debug.wasm). The allowed case also
// runs, interleaved request by request with the floor and apiguard, the
// filter built without its filter state
// (build/fixtures/apiguard-nofilterstate.wasm): filter-state=allowed
// reports the three times and both ratios, so that the cost of the
// access-log fields (filterstate.go) is measured under the same load.
func BenchmarkHostRequest(b *testing.B) {
	cfg, k := benchRequestConfig(b)
	cases := benchCases(k)
	allocs := hostAllocs(b, cfg, cases)
	vms := map[string]driver.Env{}
	floorVM, apiguardVM := hostVM(b, fixtureModule(b, "floor.wasm"), cfg), hostVM(b, vmtest.Plain(b), cfg)
	vms["floor"] = floorVM
	vms["nofilterstate"] = hostVM(b, fixtureModule(b, "apiguard-nofilterstate.wasm"), cfg)
	vms["apiguard"] = apiguardVM
	// Each case runs the floor and then apiguard, back to back (us/req);
	// x-floor, the ratio, comes from the two interleaved in blocks of
	// attributionBlock requests (interleavedRatio), so that it compares
	// two measurements taken under the same load.
	for _, c := range cases {
		var floor float64
		for _, plugin := range []string{"floor", "apiguard"} {
			vm := vms[plugin]
			b.Run("plugin="+plugin+"/case="+c.name, func(b *testing.B) {
				if plugin == "apiguard" {
					r := mustRequest(b, vm, c)
					if c.name == "429" {
						r = mustRequest(b, vm, c) // the first took the token
					}
					if got := status(r); got != c.status || c.path != "" && upstreamPath(r) != c.path {
						b.Fatalf("got status %d path %q, want %d %q", got, upstreamPath(r), c.status, c.path)
					}
				}
				for b.Loop() {
					if _, err := vm.Do(driver.Request{Headers: c.headers}); err != nil {
						b.Fatal(err)
					}
				}
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(ns/1000, "us/req")
				if plugin == "floor" {
					floor = ns
					return
				}
				if floor > 0 {
					b.ReportMetric(interleavedRatio(b, apiguardVM.VM, floorVM.VM, c.headers), "x-floor")
				}
				b.ReportMetric(allocs[c.name], "allocs/req")
			})
		}
	}
	b.Run("plugin=apiguard/case=401-new-key", func(b *testing.B) { hostNewKey401(b, apiguardVM.VM, floorVM.VM, cases[1]) })
	b.Run("filter-state=allowed", func(b *testing.B) { hostFilterStateCost(b, vms, cases[0]) })
}

// newKeys is how many unknown keys hostNewKey401 cycles through: more than
// the refused keys a worker remembers (policy/keycache_miss.go), so that
// every request pays the key's checks, its SHA-256 and the lookup, as a
// flood of guessed keys does.
const newKeys = 4096

// newKeyRequests returns newKeys requests, each c's headers with another
// well-formed key unknown to benchRequestConfig's policy in x-api-key.
func newKeyRequests(b *testing.B, c benchCase) [][][2]string {
	reqs := make([][][2]string, newKeys)
	for i := range reqs {
		h := slices.Clone(c.headers)
		for j := range h {
			if h[j][0] == "x-api-key" {
				h[j][1] = testKey(b, int64(1_000_000+i))
			}
		}
		reqs[i] = h
	}
	return reqs
}

// newKeyBlocks returns a blockMicros for reqs: each call sends a VM the
// next attributionBlock of them, the VM's own turn through reqs (a VM
// meets a key again only after newKeys requests, when its refused keys
// have forgotten it), and returns the mean time of one in µs.
func newKeyBlocks(b *testing.B, reqs [][][2]string) func(vm *cpphost.VM) float64 {
	next := map[*cpphost.VM]int{}
	return func(vm *cpphost.VM) float64 {
		at := next[vm]
		next[vm] = at + attributionBlock
		return timedBlock(b, vm, func(i int) [][2]string { return reqs[(at+i)%len(reqs)] })
	}
}

// hostNewKey401 measures the 401 of c (an unknown key) with a different
// well-formed key in every request, and its ratio to the floor (the
// floor's request is c's; it reads no key), interleaved as
// interleavedRatio does. The 401 case itself repeats one key, which the
// worker answers from its refused keys after the first time.
func hostNewKey401(b *testing.B, vm, floor *cpphost.VM, c benchCase) {
	reqs := newKeyRequests(b, c)
	if r := mustRequest(b, cpphost.EnvOf(vm), benchCase{headers: reqs[0]}); status(r) != 401 {
		b.Fatalf("got status %d, want 401", status(r))
	}
	next := 0
	for b.Loop() {
		if _, err := vm.Request(reqs[next%newKeys]); err != nil {
			b.Fatal(err)
		}
		next++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "us/req")
	vm.Logs = vm.Logs[:0]
	b.StopTimer()
	block := newKeyBlocks(b, reqs)
	var f, a []float64
	for range ratioBlocks {
		f = append(f, blockMicros(b, floor, c.headers))
		a = append(a, block(vm))
	}
	b.ReportMetric(median(a)/median(f), "x-floor")
}

// interleavedRatio is vm's time per request over the floor's, medians of
// ratioBlocks blocks of attributionBlock requests each, the two taking
// turns (outside the benchmark's timer).
func interleavedRatio(b *testing.B, vm, floor *cpphost.VM, headers [][2]string) float64 {
	b.StopTimer()
	defer b.StartTimer()
	var f, a []float64
	for range ratioBlocks {
		f = append(f, blockMicros(b, floor, headers))
		a = append(a, blockMicros(b, vm, headers))
	}
	return median(a) / median(f)
}

// ratioBlocks is how many blocks interleavedRatio times of each module.
const ratioBlocks = 200

// hostFilterStateCost runs the allowed request through the floor, the
// filter without filter state and the filter, filterStateBlock requests
// each in turn in every iteration, and reports each one's mean time per
// request and the two filters' ratios to the floor: interleaving in short
// blocks puts the three under the same load, which back-to-back runs on a
// busy machine do not, while each block keeps its module's code warm in
// the caches (request by request, the three modules evict each other).
// filterStateBlock is how many requests each plugin serves in a row in
// hostFilterStateCost.
const filterStateBlock = 10

func hostFilterStateCost(b *testing.B, vms map[string]driver.Env, c benchCase) {
	without := vms["nofilterstate"]
	// The comparison measures what it says: the same answer, with and
	// without filter state.
	rw, r := mustRequest(b, without, c), mustRequest(b, vms["apiguard"], c)
	if len(rw.State) != 0 || len(r.State) == 0 || status(rw) != status(r) || upstreamPath(rw) != upstreamPath(r) {
		b.Fatalf("without filter state: %d %q %q; with: %d %q %q", status(rw), upstreamPath(rw), rw.State,
			status(r), upstreamPath(r), r.State)
	}
	vmsOf := []driver.Env{vms["floor"], without, vms["apiguard"]}
	// The two filters swap places every iteration, so that neither always
	// runs right after the other (the host's garbage and caches are left
	// by the one before).
	orders := [2][3]int{{0, 1, 2}, {0, 2, 1}}
	var spent [3]time.Duration
	n := 0
	for b.Loop() {
		n++
		for _, i := range orders[n%2] {
			vm := vmsOf[i]
			start := time.Now()
			for range filterStateBlock {
				if _, err := vm.Do(driver.Request{Headers: c.headers}); err != nil {
					b.Fatal(err)
				}
			}
			spent[i] += time.Since(start)
		}
	}
	us := func(d time.Duration) float64 {
		return float64(d.Nanoseconds()) / 1000 / float64(b.N*filterStateBlock)
	}
	b.ReportMetric(us(spent[0]), "floor-us")
	b.ReportMetric(us(spent[1]), "without-us")
	b.ReportMetric(us(spent[2]), "with-us")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "without-x-floor")
	b.ReportMetric(float64(spent[2])/float64(spent[0]), "with-x-floor")
}

// hostAllocs counts the heap allocations per request of each case in the
// benchmark build of the filter, over 200 requests after 50 of warm-up.
func hostAllocs(b *testing.B, cfg []byte, cases []benchCase) map[string]float64 {
	b.Helper()
	vm := hostVM(b, fixtureModule(b, "apiguard-debug.wasm"), cfg)
	mallocs := func() uint64 {
		n, err := vm.VM.Call("apiguard_debug_mallocs")
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	out := map[string]float64{}
	const warm, runs = 50, 200
	for _, c := range cases {
		for range warm {
			mustRequest(b, vm, c)
		}
		before := mallocs()
		for range runs {
			mustRequest(b, vm, c)
		}
		out[c.name] = float64(mallocs()-before) / runs
	}
	return out
}

func mustRequest(b *testing.B, vm driver.Env, c benchCase) driver.Result {
	b.Helper()
	r, err := vm.Do(driver.Request{Headers: c.headers})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func status(r driver.Result) int {
	if r.Local != nil {
		return r.Local.Status
	}
	return 0
}

func upstreamPath(r driver.Result) string {
	p, _ := header(r.Upstream, ":path")
	return p
}

// BenchmarkHostIdentityToken measures an allowed request through the
// compiled filter in cpphost without an identity token, with a token reused
// from the worker's cache (the common case: a token is minted again only
// after 80 % of its lifetime), and with a token minted on every request
// (each request 5 minutes after the last), per algorithm. sign-us is the
// cost of one signature: minted minus reused, measured in the same run.
func BenchmarkHostIdentityToken(b *testing.B) {
	cfg, k := benchRequestConfig(b)
	allowed := benchCases(k)[0]
	withToken := func(alg string) []byte {
		var m map[string]any
		if err := json.Unmarshal(cfg, &m); err != nil {
			b.Fatal(err)
		}
		m["identity_token"] = tokenSection(alg, nil)
		out, err := json.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	run := func(name string, config []byte) float64 {
		var ns float64
		b.Run(name, func(b *testing.B) {
			vm := hostVM(b, vmtest.Plain(b), config)
			r := mustRequest(b, vm, allowed)
			if _, hasToken := header(r.Upstream, "authorization"); status(r) != 0 || hasToken != (name != "token=none") {
				b.Fatalf("%s: status %d, token upstream %v", name, status(r), hasToken)
			}
			for b.Loop() {
				if _, err := vm.Do(driver.Request{Headers: allowed.headers}); err != nil {
					b.Fatal(err)
				}
			}
			ns = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(ns/1000, "us/req")
		})
		return ns
	}
	run("token=none", cfg)
	for _, alg := range []string{policy.AlgEdDSA, policy.AlgES256} {
		reused := run("token="+alg+"/reused", withToken(alg))
		var minted float64
		b.Run("token="+alg+"/minted", func(b *testing.B) {
			vm := hostVM(b, vmtest.Plain(b), withToken(alg))
			at := testNow
			for b.Loop() {
				at = at.Add(5 * time.Minute)
				if err := vm.SetProperty("request.time", driver.TimeProperty(at)); err != nil {
					b.Fatal(err)
				}
				if _, err := vm.Do(driver.Request{Headers: allowed.headers}); err != nil {
					b.Fatal(err)
				}
			}
			if n, _ := vm.Counter(metricname.TokensMinted); n < uint64(b.N) {
				b.Fatalf("%d tokens minted in %d requests", n, b.N)
			}
			minted = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(minted/1000, "us/req")
			if reused > 0 {
				b.ReportMetric((minted-reused)/1000, "sign-us")
			}
		})
	}
}
