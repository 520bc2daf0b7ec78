package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/cpphost"
	"github.com/apiguard/apiguard/policy/keyfetch"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// BenchmarkKeyStoreLoadAB loads the same snapshots in two builds of the
// filter (APIGUARD_AB_A, APIGUARD_AB_B), alternately, each time in a fresh
// cpphost VM: a first generation, then a second one while the first
// serves, as BenchmarkKeyStoreLoad does. Reported per build, medians over
// the iterations: the CPU time of the load's callbacks on the VM's thread
// (a-load-cpu-ms, which the machine's other load inflates far less than
// wall time), of the reload (a-reload-cpu-ms), the longest callback of
// either (a-max-cb-ms, wall time; a-max-cb-cpu-ms, the most CPU time one
// callback took), the verification and indexing the
// build logged (a-verify-ms, a-index-ms), and the ratios b/a. The snapshot
// has APIGUARD_AB_KEYS keys (default 1,000,000); APIGUARD_AB_SNAPV=1
// writes format version 1, which builds older than format 2 read. Without
// the two builds it skips: it is for prototyping a cut and bisecting.
func BenchmarkKeyStoreLoadAB(b *testing.B) {
	wasmA, wasmB := abModules(b)
	quietEmulator(b)
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("APIGUARD_AB_KEYS")); err == nil && v > 0 {
		n = v
	}
	version := uint16(keysnap.Version)
	if os.Getenv("APIGUARD_AB_SNAPV") == "1" {
		version = keysnap.VersionV1
	}
	snap1, _, _ := benchStoreVersion(b, n, 1, false, version)
	snap2, _, _ := benchStoreVersion(b, n, 2, false, version)
	srv := &benchSnapServer{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	cfg := benchStoreConfig(b)
	type side struct {
		name                    string
		wasm                    []byte
		load, reload, cb, cbCPU []float64
		ver, index              []float64
	}
	sides := []*side{{name: "a", wasm: wasmA}, {name: "b", wasm: wasmB}}
	run := func(s *side) {
		h, err := cpphost.New(context.Background(), s.wasm, cpphost.Options{RealClock: true, ReserveMemory: true,
			Clusters: map[string]string{testKeyCluster: ts.Listener.Addr().String()}})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		srv.mu.Lock()
		srv.snap = snap1
		srv.mu.Unlock()
		vm, err := h.StartWorker(cpphost.Plugin{Name: "apiguard", Configuration: cfg})
		if err != nil {
			b.Fatal(err)
		}
		defer vm.Close()
		first := loadTimed(b, vm, h, 0)
		ver, index := loggedLoad(vm)
		srv.mu.Lock()
		srv.snap = snap2
		srv.mu.Unlock()
		if err := vm.Tick(); err != nil {
			b.Fatal(err)
		}
		second := loadTimed(b, vm, h, h.Counter(metricname.KeyStoreFetch(keyfetch.Loaded)))
		s.load = append(s.load, ms(first.cpu))
		s.reload = append(s.reload, ms(second.cpu))
		s.cb = append(s.cb, ms(max(first.longest, second.longest)))
		s.cbCPU = append(s.cbCPU, ms(max(first.longestCPU, second.longestCPU)))
		s.ver, s.index = append(s.ver, ms(ver)), append(s.index, ms(index))
	}
	i := 0
	for b.Loop() {
		// A and B swap places every iteration.
		run(sides[i%2])
		run(sides[1-i%2])
		i++
	}
	for _, s := range sides {
		b.ReportMetric(median(s.load), s.name+"-load-cpu-ms")
		b.ReportMetric(median(s.reload), s.name+"-reload-cpu-ms")
		b.ReportMetric(median(s.cb), s.name+"-max-cb-ms")
		b.ReportMetric(median(s.cbCPU), s.name+"-max-cb-cpu-ms")
		b.ReportMetric(median(s.ver), s.name+"-verify-ms")
		b.ReportMetric(median(s.index), s.name+"-index-ms")
	}
	b.ReportMetric(median(sides[1].load)/median(sides[0].load), "b/a-load")
	b.ReportMetric(median(sides[1].reload)/median(sides[0].reload), "b/a-reload")
}

// loggedLoad is the verification and indexing time of the first load the
// VM logged.
func loggedLoad(vm *cpphost.VM) (verify, index time.Duration) {
	for _, line := range vm.LogsAt(logInfo) {
		if os.Getenv("KSDEBUG") != "" {
			fmt.Println(line)
		}
		if m := loadedLine.FindStringSubmatch(line); m != nil {
			return durationOf(m[1], m[2]), durationOf(m[3], m[4])
		}
	}
	return 0, 0
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
