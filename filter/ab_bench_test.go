package main

import (
	"os"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/cpphost"
)

// BenchmarkHostAB compares two builds of the filter request by request:
// APIGUARD_AB_A and APIGUARD_AB_B name the two .wasm files (say the module
// before and after a change), which run with the floor in cpphost
// (envoy-1.33), interleaved in blocks of attributionBlock requests, every
// request shape of BenchmarkHostRequest. Reported per request, medians over
// the blocks: a-us, b-us, floor-us, b/a and each build's ratio to the
// floor. Without the two variables it skips: it is for prototyping a cut,
// not part of make bench.
func BenchmarkHostAB(b *testing.B) {
	pathA, pathB := os.Getenv("APIGUARD_AB_A"), os.Getenv("APIGUARD_AB_B")
	if pathA == "" || pathB == "" {
		b.Skip("set APIGUARD_AB_A and APIGUARD_AB_B to the two .wasm files to compare")
	}
	read := func(p string) []byte {
		wasm, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		return wasm
	}
	cfg, k := benchRequestConfig(b)
	floor := hostVM(b, fixtureModule(b, "floor.wasm"), cfg).VM
	vmA := hostVM(b, read(pathA), cfg).VM
	vmB := hostVM(b, read(pathB), cfg).VM
	for _, c := range benchCases(k) {
		b.Run("case="+c.name, func(b *testing.B) {
			checkCase(b, c, vmA, vmB)
			run := func(vm *cpphost.VM) float64 { return blockMicros(b, vm, c.headers) }
			var f, a, bb []float64
			n := 0
			for b.Loop() {
				n++
				f = append(f, run(floor))
				// A and B swap places every block, so that neither always
				// runs right after the floor.
				if n%2 == 0 {
					a = append(a, run(vmA))
					bb = append(bb, run(vmB))
				} else {
					bb = append(bb, run(vmB))
					a = append(a, run(vmA))
				}
			}
			fm, am, bm := median(f), median(a), median(bb)
			b.ReportMetric(am, "a-us")
			b.ReportMetric(bm, "b-us")
			b.ReportMetric(fm, "floor-us")
			b.ReportMetric(bm/am, "b/a")
			b.ReportMetric(am/fm, "a-x-floor")
			b.ReportMetric(bm/fm, "b-x-floor")
		})
	}
}
