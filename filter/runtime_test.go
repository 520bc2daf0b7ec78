package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/cpphost"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/policy/keymat"
)

// TestGarbageCollectionKeepsUp serves steady traffic that makes garbage
// (garbageRequest) from one VM of the compiled filter with a 10k-key
// configuration and reads the Go runtime's own GC trace: collections must
// keep completing and linear memory must stay bounded. A wasip1 reactor runs the runtime's goroutines (among them
// the GC's mark worker) only while an export blocks; before the bridge
// yielded to them at the end of each stream, a collection started here
// never completed and memory grew by tens of MiB per 10k requests. This is a
// property of the .wasm alone: natively the runtime schedules its workers.
func TestGarbageCollectionKeepsUp(t *testing.T) {
	vm, trace := startTraced(t, 10_000, false)
	started, atStart := vm.MemorySize(), cycles(trace.Bytes())
	const requests = 20_000
	for range requests {
		if _, err := vm.Request(garbageRequest); err != nil {
			t.Fatal(err)
		}
	}

	if n := cycles(trace.Bytes()) - atStart; n < 2 {
		t.Errorf("%d garbage collections completed in %d requests, want at least 2", n, requests)
	}
	const slack = 8 << 20
	if grown := int64(vm.MemorySize()) - int64(started); grown > slack {
		t.Errorf("linear memory grew by %.1f MiB over %d requests (from %.1f MiB), want at most %d MiB",
			float64(grown)/(1<<20), requests, float64(started)/(1<<20), slack>>20)
	}
}

// startTraced starts one VM of the compiled filter in wasmhost with a
// configuration of nKeys keys, the Go runtime's GC trace going to trace, and
// the host's clocks when realClock is set. The host closes at cleanup.
func startTraced(tb testing.TB, nKeys int, realClock bool) (vm *cpphost.VM, trace *bytes.Buffer) {
	tb.Helper()
	return startTracedModule(tb, vmtest.Plain(tb), nKeys, realClock)
}

// startTracedModule is startTraced with the module wasm.
func startTracedModule(tb testing.TB, wasm []byte, nKeys int, realClock bool) (vm *cpphost.VM, trace *bytes.Buffer) {
	tb.Helper()
	trace = new(bytes.Buffer)
	h, err := cpphost.New(context.Background(), wasm, cpphost.Options{
		RealClock: realClock,
		Output:    trace,
		Env:       map[string]string{"GODEBUG": "gctrace=1"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	if vm, err = h.NewVM(startConfig(tb, nKeys)); err != nil {
		tb.Fatal(err)
	}
	vm.Properties["source.address"] = []byte("192.0.2.7:41000")
	return vm, trace
}

// steadyRequest is a denial (no such route, unknown key): it needs no key
// from the generated configuration, and, like the benchmarks' requests,
// allocates nothing in the module.
var steadyRequest = [][2]string{{":method", "GET"}, {":path", "/nowhere"}, {"x-api-key", "agk_unknown"}, {"x-request-id", "r1"}}

// garbageRequest is a denial that leaves garbage in the module: its
// path has empty segments, so routing matches a normalized copy of it
// (about 8 collections in TestGarbageCollectionKeepsUp's 20k requests).
var garbageRequest = [][2]string{{":method", "GET"}, {":path", "/nowhere" + strings.Repeat("//x", 60)},
	{"x-api-key", "agk_unknown"}, {"x-request-id", "r1"}}

// cycles counts the completed collections in a gctrace output ("gc N @...").
func cycles(trace []byte) int {
	n := 0
	for _, line := range bytes.Split(trace, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("gc ")) {
			n++
		}
	}
	return n
}

// TestAllocatorMakesNoRestrictedCalls is the Envoy 1.33-1.38 failure that
// no lenient host shows: cpp-host before PR #533 traps a module that calls
// poll_oneoff while its allocator runs, and the Go runtime calls it when a
// garbage collection starts (start-the-world polls the network poller). A
// collection can start in any heap allocation, so proxy_on_memory_allocate
// must not allocate on the Go heap. Two workers serve 30k allowed requests
// of 20k consumers, each with its own bucket, under the envoy-1.33 profile;
// the host fails the test on any restricted call, and the trace shows the
// collections really happened.
func TestAllocatorMakesNoRestrictedCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 30k requests at 20k consumers take about a minute")
	}
	const consumers, requests = 20_000, 30_000
	keys := make([]string, consumers)
	var cfg bytes.Buffer
	cfg.WriteString(`{"key_sources": [{"header": "x-api-key"}], "key_format": {"prefix": "agk_", "checksum": true},
		"default_rate_limit": "per-consumer", "rate_limits": {"per-consumer": {"requests": 1000, "per": "1s"}},
		"routes": [{"name": "get-order", "methods": ["GET"], "path": "/v1/orders/{id}", "scopes": ["orders:read"]}],
		"consumers": [`)
	for i := range consumers {
		keys[i] = testKey(t, int64(1000+i))
		if i > 0 {
			cfg.WriteString(",")
		}
		fmt.Fprintf(&cfg, `{"id": "c%d", "scopes": ["orders:read"], "keys": [{"id": "k%d", "sha256": "%s"}]}`,
			i, i, keymat.Hash(keys[i]))
	}
	cfg.WriteString("]}")

	trace := new(bytes.Buffer)
	// GOGC=25 makes collections four times as frequent as the default,
	// so that one starting inside the allocator is not left to chance.
	h := vmtest.NewHost(t, cpphost.Envoy133, cpphost.Options{Output: trace,
		Env: map[string]string{"GODEBUG": "gctrace=1", "GOGC": "25"}})
	var workers [2]*cpphost.VM
	for i := range workers {
		vm, err := h.StartVM(cpphost.Plugin{Name: "apiguard", Configuration: cfg.Bytes()})
		if err != nil {
			t.Fatal(err)
		}
		vm.Properties["source.address"] = []byte(testSourceAddress)
		vm.Properties["request.time"] = binary.LittleEndian.AppendUint64(nil, uint64(testNow.UnixNano()))
		workers[i] = vm
	}
	atStart := cycles(trace.Bytes())
	for i := range requests {
		c := (i * 7919) % consumers // every consumer, not in order
		r, err := workers[i%2].Request([][2]string{{":method", "GET"}, {":path", fmt.Sprintf("/v1/orders/%d", i)},
			{":authority", "api.example.com"}, {"x-api-key", keys[c]}, {"user-agent", "gc-test/1.0"},
			{"x-request-id", fmt.Sprintf("req-%08d", i)}})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if r.Local != nil {
			t.Fatalf("request %d denied: %d %s", i, r.Local.Status, r.Local.Body)
		}
		if got, _ := header(r.Upstream, "x-apiguard-consumer"); got != fmt.Sprintf("c%d", c) {
			t.Fatalf("request %d: upstream consumer %q, want c%d", i, got, c)
		}
		if len(h.Violations()) > 0 {
			t.Fatalf("request %d: %v (%d collections so far)", i, h.Violations()[0], cycles(trace.Bytes())-atStart)
		}
	}
	n := cycles(trace.Bytes()) - atStart
	t.Logf("%d requests, %d garbage collections, %d poll_oneoff calls, none inside the allocator", requests, n, h.PollOneoffCalls.Load())
	if n < 4 {
		t.Errorf("%d garbage collections in %d requests over two workers, want at least 4: the test no longer exercises the collector", n, requests)
	}
	if n := h.Counter("apiguard.decision.allowed"); n != requests {
		t.Errorf("apiguard.decision.allowed = %d, want %d", n, requests)
	}
}
