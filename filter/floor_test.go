package main

import (
	"context"
	"encoding/binary"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/cpphost"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/internal/testing/wasmprof"
	"github.com/apiguard/apiguard/internal/wasmvm"
)

// TestFloorMakesTheFiltersHostCalls: the floor plugin, which the
// benchmarks' ratios divide by (filter/internal/testplugins/floor), makes
// the host calls the filter makes for the benchmarks' allowed request, each
// as many times, in cpphost: the floor is the same host work with no logic.
func TestFloorMakesTheFiltersHostCalls(t *testing.T) {
	floor, err := wasmvm.Fixture(".", "floor.wasm")
	if err != nil {
		t.Fatalf("%v: make test builds it", err)
	}
	cfg, k := benchRequestConfig(t)
	allowed := benchCases(k)[0]
	if allowed.name != "allowed" {
		t.Fatalf("the first benchmark case is %q", allowed.name)
	}
	calls := func(wasm []byte) map[string]uint64 {
		prof := wasmprof.New(nil)
		prof.Hosts = true
		h, err := cpphost.New(context.Background(), wasm, cpphost.Options{Profile: cpphost.Envoy133, Listeners: prof})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		vm, err := h.StartVM(cpphost.Plugin{Name: "apiguard", Configuration: cfg})
		if err != nil {
			t.Fatal(err)
		}
		vm.Properties["source.address"] = []byte(testSourceAddress)
		vm.Properties["request.time"] = binary.LittleEndian.AppendUint64(nil, uint64(testNow.UnixNano()))
		// The second request: the first sets up what a worker keeps.
		for i := range 2 {
			if i == 1 {
				prof.Start()
			}
			r, err := vm.Request(allowed.headers)
			if err != nil {
				t.Fatal(err)
			}
			if r.Local != nil {
				t.Fatalf("the allowed request was answered %d", r.Local.Status)
			}
		}
		prof.Stop()
		out := map[string]uint64{}
		for _, g := range prof.Groups() {
			if name, ok := strings.CutPrefix(g.Name, wasmprof.HostGroup+": "); ok && g.Calls > 0 {
				out[name] = g.Calls
			}
		}
		return out
	}
	want, got := calls(vmtest.Plain(t)), calls(floor)
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if got[name] != want[name] {
			t.Errorf("%s: the floor makes %d calls, the filter %d", name, got[name], want[name])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: the floor makes %d calls, the filter none", name, got[name])
		}
	}
	if len(want) < 8 {
		t.Errorf("the filter made calls to %d host functions: %v", len(want), want)
	}
}
