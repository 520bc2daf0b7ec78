package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/cpphost"
)

// BenchmarkPluginStartAB compares the plugin start (proxy_on_configure in a
// fresh VM with an empty shared-data store, as BenchmarkPluginStart) of two
// builds of the filter: APIGUARD_AB_A and APIGUARD_AB_B name the two .wasm
// files, whose starts alternate (A and B swap places every round) so that
// both see the same load of a shared machine. Reported: the medians of
// a-ms and b-ms, b/a, and the largest linear memory after a start of each
// (a-MiB, b-MiB). Without the two variables it skips: it is for
// prototyping a cut, not part of make bench.
func BenchmarkPluginStartAB(b *testing.B) {
	wasmA, wasmB := abModules(b)
	host := func(wasm []byte) *cpphost.Host {
		h, err := cpphost.New(context.Background(), wasm, cpphost.Options{Profile: cpphost.Envoy133, ReserveMemory: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		return h
	}
	hA, hB := host(wasmA), host(wasmB)
	for _, n := range []int{100, 10_000, 100_000} {
		cfg := startConfig(b, n)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			mem := map[*cpphost.Host]uint32{}
			start := func(h *cpphost.Host) float64 {
				h.ClearSharedData()
				vm, err := h.NewVM(cfg)
				if err != nil {
					b.Fatal(err)
				}
				ms := float64(vm.ConfigureTime.Microseconds()) / 1e3
				mem[h] = max(mem[h], vm.MemorySize())
				if err := vm.Close(); err != nil {
					b.Fatal(err)
				}
				return ms
			}
			// The configuration canary runs for a host's first VM only.
			start(hA)
			start(hB)
			var a, bb []float64
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					a, bb = append(a, start(hA)), append(bb, start(hB))
				} else {
					bb, a = append(bb, start(hB)), append(a, start(hA))
				}
			}
			am, bm := median(a), median(bb)
			b.ReportMetric(am, "a-ms")
			b.ReportMetric(bm, "b-ms")
			b.ReportMetric(bm/am, "b/a")
			b.ReportMetric(float64(mem[hA])/mib, "a-MiB")
			b.ReportMetric(float64(mem[hB])/mib, "b-MiB")
		})
	}
}
