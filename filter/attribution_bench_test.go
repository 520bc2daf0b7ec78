package main

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/apiguard/apiguard/internal/testing/cpphost"
	"github.com/apiguard/apiguard/internal/testing/wasmprof"
)

// Go's wasm linker writes function names mangled: "/" and "." of the
// import path become "_", "(*T)" becomes "__T_".
const (
	policyFn = "github.com_apiguard_apiguard_policy."
	sdkFn    = "github.com_tetratelabs_proxy_wasm_go_sdk_"
	bridgeFn = "github.com_apiguard_apiguard_filter_internal_bridge."
	mapFn    = "github.com_tetratelabs_proxy_wasm_go_sdk_proxywasm_internal."
)

// An attribution pass is one compiled profiling host: the groups it
// listens to, none of which runs inside another, so that a group's
// inclusive time holds no listened call but its own (see package wasmprof:
// a listened call's cost grows with its depth, which makes nested
// listeners distort the time of every enclosing group). The passes go
// level by level down the calls of a request.
type attributionPass struct {
	name       string
	hosts, all bool
	groups     []attributionGroup
}

// attributionGroup is one row of the table: its unit name (slug) and the
// functions that open it (wasmprof.Rule prefixes; "$" ends an exact name).
// The entry points named are called about once per request, so that the
// listeners' own cost stays small. tools/benchreport has the same slugs
// for the table in docs/performance.md.
type attributionGroup struct {
	slug     string
	prefixes []string
}

var attributionPasses = []attributionPass{
	// The calibration: a listener on every function, whose cost over the
	// plain build, per listened call, is what BenchmarkHostAttribution
	// subtracts (half a call's per call of a group).
	{name: "calibration", all: true},
	// Every host call, by function (and the WASI clocks and random).
	{name: "host", hosts: true, groups: []attributionGroup{
		{"wasi", []string{"wasi_snapshot_preview1."}},
	}},
	// The callbacks as the host calls them (go:wasmexport: the Go
	// runtime's entry and exit, the bridge, the SDK and the filter).
	{name: "l0", groups: []attributionGroup{{"callbacks", []string{"proxy_on_"}}}},
	// The SDK's dispatch to the plugin's contexts.
	{name: "l1", groups: []attributionGroup{{"sdk-callbacks", []string{mapFn + "proxyOn"}}}},
	// The filter's handlers.
	{name: "l2", groups: []attributionGroup{
		{"on-request", []string{"main.__httpContext_.OnHttpRequestHeaders$"}},
		{"on-response", []string{"main.__httpContext_.OnHttpResponseHeaders$"}},
		{"on-other", []string{"main.__httpContext_.OnHttpStreamDone$", "main.__pluginContext_.NewHttpContext$"}},
	}},
	// Within OnHttpRequestHeaders.
	{name: "l3", groups: []attributionGroup{
		{"headers", []string{"main.readRequestHeaders$"}},
		{"properties", []string{"main.requestTime$", "main.clientIP$"}},
		{"decide", []string{policyFn + "__Policy_.DecideInto$"}},
		{"bucket", []string{"main.limiter.take$"}},
		{"ratelimited", []string{policyFn + "RateLimitedWith$"}},
		{"filterstate", []string{"main.publishDecision$"}},
		{"identity", []string{"main.applyAllow$", "main.__pluginContext_.setIdentityToken$"}},
		{"denial-log", []string{"main.logDecision$"}},
		{"denial-reply", []string{"main.sendDenial$"}},
	}},
	// Within Decide, readRequestHeaders and sendDenial.
	{name: "l4", groups: []attributionGroup{
		{"decode", []string{"main.decodePairs$"}},
		{"encode", []string{"main.buildReply$"}},
		{"key-extract", []string{policyFn + "__Policy_.findCredentials$"}},
		{"key-lookup", []string{policyFn + "__Policy_.lookup$"}},
		{"route", []string{policyFn + "__router_.match$", policyFn + "normalizePath$"}},
		{"query", []string{policyFn + "__profile_.check$", policyFn + "__Policy_.rewrite$", policyFn + "__Policy_.rewritePlain$"}},
		{"scope", []string{policyFn + "__Policy_.insufficientScope$"}},
	}},
	// Within findCredentials and lookup.
	{name: "l5", groups: []attributionGroup{
		{"key-headers", []string{policyFn + "__Policy_.headerCredentials$"}},
		{"query-scan", []string{policyFn + "__Policy_.scanQuery$"}},
		{"sha256", []string{"github.com_apiguard_apiguard_policy_keysnap.Sum256$"}},
	}},
	// The heap, wherever it is used: allocation (growing linear memory
	// and starting a collection inside), the collector's workers.
	{name: "heap", groups: []attributionGroup{
		{"alloc", []string{"runtime.mallocgc$"}},
		{"gc", []string{"runtime.gcBgMarkWorker$", "runtime.bgsweep$", "runtime.bgscavenge$"}},
	}},
}

// attributionCache keeps the passes' compiled modules across the
// benchmark's runs (-count).
var attributionCache = wazero.NewCompilationCache()

// attributionBlock is how many requests each VM serves in a row.
const attributionBlock = 10

// BenchmarkHostAttribution says where the time of each request of
// BenchmarkHostRequest goes inside the .wasm: per group of functions
// (attributionPasses) and per host call. It runs, in blocks of
// attributionBlock requests interleaved, the floor, the profiling build of
// the filter (build/fixtures/apiguard-profile.wasm: the filter with its
// function names, optimized like the module) as is, and the same build in
// one host per pass with wazero function listeners on the pass's functions
// (internal/testing/wasmprof). A listened call leaves the compiled code and comes
// back, twice: the calibration pass, with a listener on every function,
// gives that cost per call (its time over the plain build's, per listened
// call), and a group's time is its inclusive time less half that per call
// of its own (no listened call runs inside a group of its pass), taken as a
// share of its pass's time and applied to the plain build's time. Every
// figure is the median over the blocks. Reported per request: us/req (the
// plain build), floor-us, x-floor, listened/req and overhead-ns of the
// calibration, <pass>-added-us (a pass's time over the plain build's), then
// <group>-us and <group>-calls, and host:<function>-us and -calls.
func BenchmarkHostAttribution(b *testing.B) {
	cfg, k := benchRequestConfig(b)
	wasm := fixtureModule(b, "apiguard-profile.wasm")
	floor := hostVM(b, fixtureModule(b, "floor.wasm"), cfg).VM
	plain := hostVM(b, wasm, cfg).VM
	type passVM struct {
		attributionPass
		prof *wasmprof.Profiler
		vm   *cpphost.VM
	}
	var passes []passVM
	slugs := map[string]string{}
	for _, pass := range attributionPasses {
		var rules []wasmprof.Rule
		for _, g := range pass.groups {
			rules = append(rules, wasmprof.Rule{Group: pass.name + "/" + g.slug, Prefixes: g.prefixes})
			slugs[pass.name+"/"+g.slug] = g.slug
		}
		prof := wasmprof.New(rules)
		prof.Hosts, prof.All = pass.hosts, pass.all
		h, err := cpphost.New(context.Background(), wasm, cpphost.Options{Profile: cpphost.Envoy133, Listeners: prof, Cache: attributionCache})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		vm, err := h.StartVM(cpphost.Plugin{Name: "apiguard", Configuration: cfg})
		if err != nil {
			b.Fatal(err)
		}
		// A function renamed or inlined away would leave its row at zero.
		if missing := prof.Unmatched(); len(missing) > 0 {
			b.Fatalf("pass %s: no function of the profiling build matches %q", pass.name, missing)
		}
		vm.Properties["source.address"] = []byte(testSourceAddress)
		vm.Properties["request.time"] = binary.LittleEndian.AppendUint64(nil, uint64(testNow.UnixNano()))
		passes = append(passes, passVM{pass, prof, vm})
	}
	cases := benchCases(k)
	// The 401 of a new key in every request (BenchmarkHostRequest's
	// 401-new-key): each VM takes its own turn through the keys.
	cases = append(cases, benchCase{name: "401-new-key", headers: cases[1].headers, status: 401})
	for _, c := range cases {
		b.Run("case="+c.name, func(b *testing.B) {
			vms := []*cpphost.VM{plain}
			for _, p := range passes {
				vms = append(vms, p.vm)
			}
			checkCase(b, c, vms...)
			run := func(vm *cpphost.VM) float64 { return blockMicros(b, vm, c.headers) }
			if c.name == "401-new-key" {
				blocks := newKeyBlocks(b, newKeyRequests(b, c))
				run = func(vm *cpphost.VM) float64 {
					if vm == floor {
						return blockMicros(b, vm, c.headers)
					}
					return blocks(vm)
				}
			}
			// Per block, per request: the floor's, the plain build's and
			// each pass's µs, the pass's listened calls, and each group's
			// inclusive µs and calls. Every figure is the median over the
			// blocks, so that a block the machine's other work interrupted
			// does not move it.
			var floorUs, plainUs []float64
			profUs, listened := make([][]float64, len(passes)), make([][]float64, len(passes))
			incl, calls := map[string][]float64{}, map[string][]float64{}
			n := 0
			for b.Loop() {
				n++
				floorUs = append(floorUs, run(floor))
				if n%2 == 0 {
					plainUs = append(plainUs, run(plain))
				}
				for i, p := range passes {
					p.prof.Start()
					profUs[i] = append(profUs[i], run(p.vm))
					p.prof.Stop()
					listened[i] = append(listened[i], float64(p.prof.Calls())/attributionBlock)
					for _, g := range p.prof.Groups() {
						incl[g.Name] = append(incl[g.Name], float64(g.Incl.Nanoseconds())/1000/attributionBlock)
						calls[g.Name] = append(calls[g.Name], float64(g.Calls)/attributionBlock)
					}
				}
				if n%2 == 1 {
					plainUs = append(plainUs, run(plain))
				}
			}
			plainMed := median(plainUs)
			b.ReportMetric(plainMed, "us/req")
			b.ReportMetric(median(floorUs), "floor-us")
			b.ReportMetric(plainMed/median(floorUs), "x-floor")
			// The cost of one listened call, µs: the calibration pass's
			// time over the plain build's, per listened call. It varies
			// with the depth of the call (wazero unwinds the stack for each
			// listener); this is its mean over every call of the request.
			overhead := max(0, (median(profUs[0])-plainMed)/median(listened[0]))
			b.ReportMetric(median(listened[0]), "listened/req")
			b.ReportMetric(overhead*1000, "overhead-ns")
			for i, p := range passes[1:] {
				// A profiling VM runs slower than the plain one by more
				// than its listened calls (about 10 µs per request for a
				// pass of two calls, from the listeners' presence and the
				// machine's other work): a group's figure is its share of
				// its pass's time, applied to the plain build's.
				profMed := median(profUs[i+1])
				b.ReportMetric(profMed-plainMed, p.name+"-added-us")
				for _, g := range p.prof.Groups() {
					cs := median(calls[g.Name])
					us := max(0, median(incl[g.Name])-overhead*cs/2) / profMed * plainMed
					if name, ok := strings.CutPrefix(g.Name, wasmprof.HostGroup+": "); ok {
						if cs > 0 {
							b.ReportMetric(us, "host:"+name+"-us")
							b.ReportMetric(cs, "host:"+name+"-calls")
						}
					} else if slug := slugs[g.Name]; slug != "" {
						b.ReportMetric(us, slug+"-us")
						b.ReportMetric(cs, slug+"-calls")
					}
				}
			}
		})
	}
}

// median returns the median of vs (0 for none).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// checkCase fails the benchmark unless each VM answers case c as it should
// (a 429 on its second request).
func checkCase(b *testing.B, c benchCase, vms ...*cpphost.VM) {
	b.Helper()
	for _, vm := range vms {
		r := mustRequest(b, cpphost.EnvOf(vm), c)
		if c.name == "429" {
			r = mustRequest(b, cpphost.EnvOf(vm), c)
		}
		if got := status(r); got != c.status || c.path != "" && upstreamPath(r) != c.path {
			b.Fatalf("got status %d path %q, want %d %q", got, upstreamPath(r), c.status, c.path)
		}
	}
}

// blockMicros sends attributionBlock requests with headers to vm and
// returns the mean time of one, in µs. The lines the block logged are
// dropped after it, untimed: a proxy writes its log and keeps nothing,
// while cpphost keeps every line (VM.Logs), which would make the host's
// memory, and its collector's work, grow with every denial benchmarked.
func blockMicros(b *testing.B, vm *cpphost.VM, headers [][2]string) float64 {
	return timedBlock(b, vm, func(int) [][2]string { return headers })
}

// timedBlock is blockMicros with the headers of the i-th request of the
// block from headers(i).
func timedBlock(b *testing.B, vm *cpphost.VM, headers func(i int) [][2]string) float64 {
	start := time.Now()
	for i := range attributionBlock {
		if _, err := vm.Request(headers(i)); err != nil {
			b.Fatal(err)
		}
	}
	took := float64(time.Since(start).Nanoseconds()) / 1000 / attributionBlock
	vm.Logs = vm.Logs[:0]
	return took
}
