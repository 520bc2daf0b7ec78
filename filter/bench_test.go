package main

// Benchmarks of the compiled filter (build/apiguard.wasm), each against the
// floor: the passthrough fixture (filter/internal/testplugins/passthrough),
// built with the same toolchain, bridge and runtime overlay, which continues
// every request without looking at it. make bench builds both and runs
// these with a fixed -benchtime; see tools/benchreport for the summary.

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/benchconfig"
	"github.com/apiguard/apiguard/internal/testing/cpphost"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/internal/wasmvm"
	"github.com/apiguard/apiguard/policy/keymat"
)

// passthroughModule returns the passthrough fixture as built.
func passthroughModule(b *testing.B) []byte { return fixtureModule(b, "passthrough.wasm") }

// benchKeys are the keys of benchRequestConfig.
type benchKeys struct {
	testKeys
	limited string // consumer "limited": one token, never refilled in a run
}

// benchRequestConfig is the test configuration with a limit that never
// bites for "billing", a consumer whose bucket is empty after one request,
// and a clamping pagination profile.
func benchRequestConfig(b testing.TB) ([]byte, benchKeys) {
	k := benchKeys{testKeys: newTestKeys(b), limited: testKey(b, 7)}
	cfg := testConfig(b, k.testKeys, func(c map[string]any) {
		c["rate_limits"].(map[string]any)["gold"] = map[string]any{"requests": 1_000_000_000, "per": "1ms", "burst": 1_000_000_000}
		c["rate_limits"].(map[string]any)["tiny"] = map[string]any{"requests": 1, "per": "8760h", "burst": 1}
		c["consumers"] = append(c["consumers"].([]any), map[string]any{"id": "limited", "scopes": []any{"orders:read"}, "rate_limit": "tiny",
			"keys": []any{map[string]any{"id": "limited-1", "sha256": keymat.Hash(k.limited)}}})
		c["routes"] = append(c["routes"].([]any), map[string]any{"name": "items", "methods": []any{"GET"}, "path": "/v1/items", "scopes": []any{"orders:read"}, "pagination": "clamped"})
		c["pagination"].(map[string]any)["clamped"] = map[string]any{"limit_param": "limit", "max_limit": 100, "on_violation": "clamp"}
	})
	return cfg, k
}

// benchCase is one request shape and what it must produce.
type benchCase struct {
	name    string
	headers [][2]string
	status  int    // local response status, 0 when forwarded
	path    string // :path forwarded upstream, checked when set
}

func benchCases(k benchKeys) []benchCase {
	get := func(path string, hs ...[2]string) [][2]string {
		return append([][2]string{{":method", "GET"}, {":path", path}, {":authority", "api.example.com"},
			{"user-agent", "bench/1.0"}, {"accept", "application/json"}, {"x-request-id", "0f6c1a52-5a44-4f47-9f3e-5bc1f6f0d3f1"}}, hs...)
	}
	return []benchCase{
		{name: "allowed", headers: get("/v1/orders/12345", [2]string{"x-api-key", k.billing})},
		{name: "401", headers: get("/v1/orders/12345", [2]string{"x-api-key", k.unknown}), status: 401},
		{name: "403", headers: get("/v1/orders/12345", [2]string{"x-api-key", k.reader}), status: 403},
		{name: "429", headers: get("/v1/orders/12345", [2]string{"x-api-key", k.limited}), status: 429},
		{name: "400", headers: get("/v1/orders?limit=500", [2]string{"x-api-key", k.billing}), status: 400},
		{name: "clamp", headers: get("/v1/items?limit=5000&sort=asc", [2]string{"x-api-key", k.billing}), path: "/v1/items?limit=100&sort=asc"},
	}
}

// quietEmulator stops the SDK's emulator from printing every log line of
// the plugin (it writes them with the log package) for the benchmark.
func quietEmulator(b *testing.B) {
	out := log.Writer()
	log.SetOutput(io.Discard)
	b.Cleanup(func() { log.SetOutput(out) })
}

// emulated is one plugin started in the SDK's host emulator.
type emulated struct{ d *driver.Emulator }

func startEmulated(b *testing.B, vm types.VMContext, config []byte) *emulated {
	b.Helper()
	d, err := driver.StartEmulator(vm, driver.Config{Configuration: config, Properties: map[string][]byte{
		"source.address": []byte("192.0.2.7:41000"), "request.time": driver.TimeProperty(testNow)}})
	if err != nil {
		b.Fatal(err)
	}
	if d.Failed() {
		d.Close()
		b.Fatalf("plugin start failed; logs: %q", d.Logs(logCritical))
	}
	return &emulated{d: d}
}

// benchResponse is the upstream's answer to a forwarded request.
var benchResponse = [][2]string{{":status", "200"}, {"content-type", "application/json"}}

// request runs one request through the plugin as Envoy would: request
// headers, then, when forwarded, response headers, then the end of the
// stream. It returns the local response status (0: forwarded) and the
// forwarded :path.
func (e *emulated) request(headers [][2]string) (status int, path string) {
	r, err := e.d.Do(driver.Request{Headers: headers, Response: benchResponse})
	if err != nil {
		return -1, ""
	}
	if r.Local != nil {
		return r.Local.Status, ""
	}
	path, _ = header(r.Upstream, ":path")
	return 0, path
}

// BenchmarkWasmRequest measures one request through the compiled filter in
// the SDK's wazero emulator, per outcome, and the same requests through the
// passthrough fixture in the same run. The apiguard results carry the ratio
// to the passthrough's time for the same request (x-passthrough).
func BenchmarkWasmRequest(b *testing.B) {
	quietEmulator(b)
	cfg, k := benchRequestConfig(b)
	cases := benchCases(k)
	floor := map[string]float64{}
	for _, plugin := range []string{"passthrough", "apiguard"} {
		var wasm []byte
		if plugin == "apiguard" {
			wasm = vmtest.Plain(b)
		} else {
			wasm = passthroughModule(b)
		}
		vm, err := wasmvm.EmulatorVM(wasm)
		if err != nil {
			b.Fatal(err)
		}
		e := startEmulated(b, vm, cfg)
		for _, c := range cases {
			b.Run("plugin="+plugin+"/case="+c.name, func(b *testing.B) {
				if plugin == "apiguard" {
					status, path := e.request(c.headers)
					if c.name == "429" {
						status, path = e.request(c.headers) // the first took the token
					}
					if status != c.status || c.path != "" && path != c.path {
						b.Fatalf("got status %d path %q, want %d %q", status, path, c.status, c.path)
					}
				}
				for b.Loop() {
					e.request(c.headers)
				}
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				if plugin == "passthrough" {
					floor[c.name] = ns
				} else if f := floor[c.name]; f > 0 {
					b.ReportMetric(ns/f, "x-passthrough")
				}
			})
		}
		e.d.Close()
		vm.Close()
	}
}

// startConfig is a production-sized configuration: nKeys keys, ten per
// consumer, each with a validity window; 1000 routes, half of them with a
// {param}; a rate-limit policy per consumer, so one bucket per consumer.
func startConfig(tb testing.TB, nKeys int) []byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(nKeys)))
	var sum [32]byte
	return benchconfig.Config(nKeys, 1000, func(int) string {
		for j := 0; j < len(sum); j += 8 {
			binary.LittleEndian.PutUint64(sum[j:], rng.Uint64())
		}
		return hex.EncodeToString(sum[:])
	})
}

const mib = 1 << 20

// startHostOptions is the host of the plugin-start benchmarks: linear
// memory reserved, as V8 reserves it, since without it wazero copies the
// whole memory at every memory.grow, and a start grows it a few dozen
// times while the configuration compiles (measured by hostVM's benchmarks
// the same way).
var startHostOptions = cpphost.Options{ReserveMemory: true}

// BenchmarkPluginStart measures starting the plugin in a fresh VM of the
// compiled filter (wasmhost, one instance per op): start-ms is
// proxy_on_configure alone — reading the configuration, compiling it and
// creating every rate-limit bucket in an empty shared-data store, the work
// Envoy waits for before the worker serves — and mem-MiB is the VM's linear
// memory after the start. vm-ms (and ns/op) add instantiation and the Go
// runtime's initialisation. plugin=passthrough is the floor of a Go-built module.
// The VMs reserve their linear memory, as V8 does (startHostOptions).
func BenchmarkPluginStart(b *testing.B) {
	for _, plugin := range []string{"passthrough", "apiguard"} {
		var wasm []byte
		if plugin == "apiguard" {
			wasm = vmtest.Plain(b)
		} else {
			wasm = passthroughModule(b)
		}
		h, err := cpphost.New(context.Background(), wasm, startHostOptions)
		if err != nil {
			b.Fatal(err)
		}
		sizes := []int{100, 10_000, 100_000}
		if plugin == "passthrough" {
			sizes = sizes[len(sizes)-1:]
		}
		for _, n := range sizes {
			cfg := startConfig(b, n)
			b.Run(fmt.Sprintf("plugin=%s/keys=%d", plugin, n), func(b *testing.B) {
				b.SetBytes(int64(len(cfg)))
				var configure, total time.Duration
				var mem uint32
				for b.Loop() {
					b.StopTimer()
					h.ClearSharedData()
					b.StartTimer()
					begin := time.Now()
					vm, err := h.NewVM(cfg)
					if err != nil {
						b.Fatal(err)
					}
					total += time.Since(begin)
					configure += vm.ConfigureTime
					mem = max(mem, vm.MemorySize())
					b.StopTimer()
					if err := vm.Close(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				// ns/op is the whole NewVM; the custom units split it.
				b.ReportMetric(float64(configure.Microseconds())/1e3/float64(b.N), "start-ms")
				b.ReportMetric(float64(total.Microseconds())/1e3/float64(b.N), "vm-ms")
				b.ReportMetric(float64(mem)/mib, "mem-MiB")
			})
		}
		h.Close()
	}
}

// BenchmarkRateLimitContention runs two VMs of the compiled filter over one
// shared-data store on two goroutines (two Envoy workers), both sending
// requests of one consumer, so both hammer one bucket. The emulated clock
// advances 100 µs per request (10 000 requests/s against a limit of 1000/s,
// burst 100). It reports CAS retries and exhaustions per request, and the
// tokens admitted against those the limit allows over the emulated span:
// admitted/allowed above 1 would be over-admission.
func BenchmarkRateLimitContention(b *testing.B) {
	k := newTestKeys(b)
	cfg := testConfig(b, k, func(c map[string]any) {
		c["rate_limits"].(map[string]any)["gold"] = map[string]any{"requests": 1000, "per": "1s", "burst": 100}
	})
	h, err := cpphost.New(context.Background(), vmtest.Plain(b), cpphost.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	var vms [2]*cpphost.VM
	for i := range vms {
		if vms[i], err = h.NewVM(cfg); err != nil {
			b.Fatal(err)
		}
		vms[i].Properties["source.address"] = []byte("192.0.2.7:41000")
	}
	req := [][2]string{{":method", "GET"}, {":path", "/v1/orders/1"}, {"x-api-key", k.billing}}
	const step = 100 * time.Microsecond
	const burst, rate = 100, 1000 // tokens, tokens per second

	next := testNow
	b.Run("vms=2", func(b *testing.B) {
		// Every op is one request per VM. Each run starts a day after the
		// previous one ended, from a full bucket.
		var clock atomic.Int64
		start := next.Add(24 * time.Hour).UnixNano()
		clock.Store(start)
		defer func() { next = time.Unix(0, clock.Load()) }()
		retries0, exhausted0, calls0 := h.Counter(metricname.CASRetries), h.Counter(metricname.CASExhausted), h.HostCalls()
		var admitted, denied, failed atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for _, vm := range vms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range b.N {
					now := clock.Add(int64(step))
					vm.Properties["request.time"] = binary.LittleEndian.AppendUint64(nil, uint64(now))
					r, err := vm.Request(req)
					switch {
					case err != nil:
						failed.Add(1)
					case r.Local == nil:
						admitted.Add(1)
					case r.Local.Status == 429:
						denied.Add(1)
					default:
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		if n := failed.Load(); n > 0 {
			b.Fatalf("%d requests failed", n)
		}
		reqs := float64(2 * b.N)
		span := time.Duration(clock.Load() - start)
		allowed := min(float64(burst)+span.Seconds()*rate, reqs)
		b.ReportMetric(float64(h.Counter(metricname.CASRetries)-retries0)/reqs, "cas-retries/req")
		b.ReportMetric(float64(h.HostCalls()-calls0)/reqs, "host-calls/req")
		b.ReportMetric(float64(h.Counter(metricname.CASExhausted)-exhausted0)/reqs, "cas-exhausted/req")
		b.ReportMetric(float64(admitted.Load()), "admitted")
		b.ReportMetric(allowed, "allowed")
		b.ReportMetric(float64(admitted.Load())/allowed, "admitted/allowed")
	})
}

// BenchmarkSteadyTraffic serves steady traffic (steadyRequest, a denial per
// op) from one VM of the compiled filter with a production-sized
// configuration, with real clocks, as a worker serves between configuration
// changes. It reports the linear memory after start and after the run, the
// garbage collections that completed during it (from the runtime's
// gctrace), and the p99.9 and longest request: the longest is one in which
// the collector works. Each request is timed twice: by the wall clock
// (p999-us, max-ms) and by the CPU time of the thread that runs the VM
// (cpu-p999-us, cpu-max-ms), which leaves out the time the machine's other
// load took the thread away; the benchmark's own collections are off while
// it runs, since they too would run on that thread. make bench runs it with
// a fixed -benchtime.
func BenchmarkSteadyTraffic(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			vm, trace := startTraced(b, n, true)
			started, cycles0 := vm.MemorySize(), cycles(trace.Bytes())
			took := make([]time.Duration, 0, b.N)
			cpu := make([]time.Duration, 0, b.N)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			gcPercent := debug.SetGCPercent(-1)
			for b.Loop() {
				begin, cpu0 := time.Now(), threadCPU()
				if _, err := vm.Request(steadyRequest); err != nil {
					b.Fatal(err)
				}
				cpu = append(cpu, threadCPU()-cpu0)
				took = append(took, time.Since(begin))
				vm.Logs = vm.Logs[:0]
			}
			debug.SetGCPercent(gcPercent)
			slices.Sort(took)
			slices.Sort(cpu)
			b.ReportMetric(float64(started)/mib, "mem-start-MiB")
			b.ReportMetric(float64(vm.MemorySize())/mib, "mem-end-MiB")
			b.ReportMetric(float64(cycles(trace.Bytes())-cycles0), "gc-cycles")
			b.ReportMetric(float64(took[len(took)*999/1000].Microseconds()), "p999-us")
			b.ReportMetric(float64(took[len(took)-1].Microseconds())/1e3, "max-ms")
			b.ReportMetric(float64(cpu[len(cpu)*999/1000].Microseconds()), "cpu-p999-us")
			b.ReportMetric(float64(cpu[len(cpu)-1].Microseconds())/1e3, "cpu-max-ms")
		})
	}
}

// BenchmarkModuleSize reports the size of the shipped module (stripped, as
// make build writes it) and of the passthrough fixture, in wasm-bytes. It
// measures nothing per op: the figure is a file size, in benchmark form so
// that it lands in the same benchstat-friendly output.
func BenchmarkModuleSize(b *testing.B) {
	root, err := wasmvm.RepoRoot(".")
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []struct{ plugin, path string }{
		{"passthrough", "build/fixtures/passthrough.wasm"},
		{"apiguard", wasmvm.DefaultPath},
	} {
		b.Run("plugin="+m.plugin, func(b *testing.B) {
			fi, err := os.Stat(filepath.Join(root, m.path))
			if err != nil {
				b.Fatalf("%v: run make bench", err)
			}
			for b.Loop() {
			}
			b.ReportMetric(float64(fi.Size()), "wasm-bytes")
		})
	}
}
