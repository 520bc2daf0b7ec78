package main

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/testing/cpphost"
)

// abModules returns the two builds of the filter an A/B benchmark compares,
// read from the files APIGUARD_AB_A and APIGUARD_AB_B name; without both
// variables it skips the benchmark: A/B benchmarks are for prototyping a
// cut, not part of make bench.
func abModules(b *testing.B) (a, bb []byte) {
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
	return read(pathA), read(pathB)
}

// BenchmarkHostAB compares two builds of the filter request by request:
// APIGUARD_AB_A and APIGUARD_AB_B name the two .wasm files (say the module
// before and after a change), which run with the floor in cpphost
// (envoy-1.33), interleaved in blocks of attributionBlock requests, every
// request shape of BenchmarkHostRequest. Reported per request, medians over
// the blocks: a-us, b-us, floor-us, b/a and each build's ratio to the
// floor. Without the two variables it skips: it is for prototyping a cut,
// not part of make bench.
func BenchmarkHostAB(b *testing.B) {
	wasmA, wasmB := abModules(b)
	cfg, k := benchRequestConfig(b)
	floor := hostVM(b, fixtureModule(b, "floor.wasm"), cfg).VM
	vmA := hostVM(b, wasmA, cfg).VM
	vmB := hostVM(b, wasmB, cfg).VM
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

// BenchmarkSteadyTrafficAB serves BenchmarkSteadyTraffic's traffic to two
// builds of the filter (APIGUARD_AB_A, APIGUARD_AB_B), each in its own VM
// with 100k keys and real clocks, alternating a request of each: the
// longest request, p99.9 and completed collections of each build, from
// one run under the same load. It skips without the two variables.
func BenchmarkSteadyTrafficAB(b *testing.B) {
	wasmA, wasmB := abModules(b)
	type side struct {
		name  string
		vm    *cpphost.VM
		trace *bytes.Buffer
		took  []time.Duration
		cpu   []time.Duration
		c0    int
	}
	var sides []*side
	for _, p := range []struct {
		name string
		wasm []byte
	}{{"a", wasmA}, {"b", wasmB}} {
		vm, trace := startTracedModule(b, p.wasm, 100_000, true)
		sides = append(sides, &side{name: p.name, vm: vm, trace: trace, c0: cycles(trace.Bytes())})
	}
	// The thread's CPU time tells the module's own work from the time the
	// machine's other load took the thread away.
	// The benchmark's own collections would run on that thread too.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for b.Loop() {
		for _, s := range sides {
			begin, cpu := time.Now(), threadCPU()
			if _, err := s.vm.Request(steadyRequest); err != nil {
				b.Fatal(err)
			}
			s.cpu = append(s.cpu, threadCPU()-cpu)
			s.took = append(s.took, time.Since(begin))
			s.vm.Logs = s.vm.Logs[:0]
		}
	}
	for _, s := range sides {
		slices.Sort(s.took)
		slices.Sort(s.cpu)
		b.ReportMetric(float64(s.cpu[len(s.cpu)*999/1000].Microseconds()), s.name+"-cpu-p999-us")
		b.ReportMetric(float64(s.cpu[len(s.cpu)-1].Microseconds())/1e3, s.name+"-cpu-max-ms")
		b.ReportMetric(float64(cycles(s.trace.Bytes())-s.c0), s.name+"-gc-cycles")
		b.ReportMetric(float64(s.took[len(s.took)*999/1000].Microseconds()), s.name+"-p999-us")
		b.ReportMetric(float64(s.took[len(s.took)-1].Microseconds())/1e3, s.name+"-max-ms")
	}
}
