package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/apiguard/apiguard/internal/cpphost"
	"github.com/apiguard/apiguard/internal/vmtest"
)

// TestGarbageCollectionKeepsUp serves steady traffic from one VM of the
// compiled filter with a 10k-key configuration and reads the Go runtime's
// own GC trace: collections must keep completing and linear memory must
// stay bounded. A wasip1 reactor runs the runtime's goroutines (among them
// the GC's mark worker) only while an export blocks; before the bridge
// yielded to them at the end of each stream, a collection started here
// never completed and memory grew by tens of MiB per 10k requests. This is a
// property of the .wasm alone: natively the runtime schedules its workers.
func TestGarbageCollectionKeepsUp(t *testing.T) {
	vm, trace := startTraced(t, 10_000, false)
	started, atStart := vm.MemorySize(), cycles(trace.Bytes())
	const requests = 20_000
	for range requests {
		if _, err := vm.Request(steadyRequest); err != nil {
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
	trace = new(bytes.Buffer)
	h, err := cpphost.New(context.Background(), vmtest.Module(tb), cpphost.Options{
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

// steadyRequest is a denial (no such route, unknown key): it allocates like
// any request, and needs no key from the generated configuration.
var steadyRequest = [][2]string{{":method", "GET"}, {":path", "/nowhere"}, {"x-api-key", "agk_unknown"}, {"x-request-id", "r1"}}

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
