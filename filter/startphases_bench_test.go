package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/cpphost"
	"github.com/apiguard/apiguard/internal/testing/wasmprof"
)

// startPhases are the steps of a plugin start (proxy_on_configure) that
// BenchmarkPluginStartPhases times inside the .wasm; none runs inside
// another, so that each is measured with only its own listener round trip
// (package wasmprof).
var startPhases = []attributionGroup{
	// GetPluginConfiguration is inlined: its host call is getBuffer's.
	{"read", []string{sdkFn + "proxywasm.getBuffer$"}},
	{"check", []string{policyFn + "__parser_.checkDocument$"}},
	{"parse", []string{policyFn + "__parser_.parseConfig$"}},
	// runtime.GC parks while the collector's workers run on their own
	// goroutines (their own wasm stacks): the workers count here too.
	{"gc", []string{"runtime.GC$", "runtime.gcBgMarkWorker$", "runtime.bgsweep$", "runtime.bgscavenge$"}},
	{"build", []string{policyFn + "__parser_.build$"}},
	// limiter.prepare is inlined into OnPluginStart: its loop over the
	// bucket keys is BucketKeys.
	{"buckets", []string{policyFn + "__Policy_.BucketKeys$", "main.__hostStore_.Get$", "main.__hostStore_.Set$"}},
}

// BenchmarkPluginStartPhases splits the plugin start of
// BenchmarkPluginStart (the worker's proxy_on_configure, a fresh VM, an
// empty shared-data store) into its steps, measured in the profiling build
// of the filter with wazero listeners on the functions of startPhases:
// read (the configuration from the host), check (the JSON document's
// syntax, in one pass that also indexes its arrays and objects for the
// parse), parse (into the config structures), gc (the collections: one
// between parse and build, one before serving), build (consumers, the key
// index, routes) and buckets (one shared-data get, and a set for a missing
// bucket, per rate-limit bucket: a bucket per consumer with its own limit).
// start-ms is proxy_on_configure; <phase>-ms each step, rest-ms what is
// left. A collection that runs while a step allocates counts in rest-ms:
// Go's wasm port unwinds a goroutine's frames when it switches to another,
// here the collector's worker.
func BenchmarkPluginStartPhases(b *testing.B) {
	wasm := fixtureModule(b, "apiguard-profile.wasm")
	var rules []wasmprof.Rule
	for _, p := range startPhases {
		rules = append(rules, wasmprof.Rule{Group: p.slug, Prefixes: p.prefixes})
	}
	prof := wasmprof.New(rules)
	h, err := cpphost.New(context.Background(), wasm, cpphost.Options{Listeners: prof, Cache: attributionCache, ReserveMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	// A function renamed or inlined away would leave its phase at zero.
	if missing := prof.Unmatched(); len(missing) > 0 {
		b.Fatalf("no function of the profiling build matches %q", missing)
	}
	for _, n := range []int{10_000, 100_000} {
		cfg := startConfig(b, n)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			// The host runs the configuration canary for the first VM of
			// a configuration only: start one first, so that every
			// measured start is a worker's alone.
			if vm, err := h.NewVM(cfg); err != nil {
				b.Fatal(err)
			} else if err := vm.Close(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(cfg)))
			phases := map[string]float64{}
			var configure float64
			for b.Loop() {
				b.StopTimer()
				h.ClearSharedData()
				b.StartTimer()
				prof.Start()
				vm, err := h.NewVM(cfg)
				prof.Stop()
				if err != nil {
					b.Fatal(err)
				}
				configure += float64(vm.ConfigureTime.Microseconds()) / 1e3
				b.StopTimer()
				if err := vm.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, g := range prof.Groups() {
					phases[g.Name] += float64(g.Incl.Microseconds()) / 1e3
				}
			}
			b.ReportMetric(configure/float64(b.N), "start-ms")
			var sum float64
			for _, p := range startPhases {
				b.ReportMetric(phases[p.slug]/float64(b.N), p.slug+"-ms")
				sum += phases[p.slug] / float64(b.N)
			}
			// The rest: the collector's work while the steps' goroutine
			// waits (its frames are unwound then), the runtime, the glue.
			b.ReportMetric(max(0, configure/float64(b.N)-sum), "rest-ms")
		})
	}
}
