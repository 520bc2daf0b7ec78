package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/benchconfig"
	"github.com/apiguard/apiguard/internal/testing/cpphost"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/policy/keyfetch"
	"github.com/apiguard/apiguard/policy/keymat"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// benchStoreKeys is how many keys of a bench snapshot are real (their raw
// key is known, for requests); the others have random digests.
const benchStoreKeys = 64

// benchStore is the consumers of benchconfig.Config(n, ...) as a snapshot
// (ten keys per consumer, three scopes, rate limit "gold", every key with
// the same validity window), the raw keys of its first benchStoreKeys keys,
// and the inline configuration of the same keys when inline.
func benchStore(b *testing.B, n int, gen uint64, inline bool) (snap []byte, keys []string, inlineCfg []byte) {
	return benchStoreVersion(b, n, gen, inline, keysnap.Version)
}

// benchStoreVersion is benchStore in snapshot format version.
func benchStoreVersion(b *testing.B, n int, gen uint64, inline bool, version uint16) (snap []byte, keys []string, inlineCfg []byte) {
	b.Helper()
	rng := rand.New(rand.NewPCG(3, uint64(n)))
	nb, _ := time.Parse(time.RFC3339, "2026-01-01T00:00:00Z")
	na, _ := time.Parse(time.RFC3339, "2027-01-01T00:00:00Z")
	s := &keysnap.Snapshot{Generation: gen, Created: time.Now(), Version: version}
	s.Consumers = benchconfig.SnapshotConsumers(n)
	s.Keys = make([]keysnap.Key, n)
	for i := range s.Keys {
		k := &s.Keys[i]
		if i < benchStoreKeys {
			raw := testKey(b, int64(1000+i))
			keys = append(keys, raw)
			sum, _ := hex.DecodeString(keymat.Hash(raw))
			copy(k.Digest[:], sum)
		} else {
			for j := 0; j < 32; j += 8 {
				binary.LittleEndian.PutUint64(k.Digest[j:], rng.Uint64())
			}
		}
		*k = keysnap.Key{Digest: k.Digest, Consumer: i / 10, ID: "key-" + strconv.Itoa(i), NotBefore: nb.UnixNano(), NotAfter: na.UnixNano()}
	}
	snap, err := keysnap.Encode(s, benchSigner)
	if err != nil {
		b.Fatal(err)
	}
	if inline {
		var cfg map[string]any
		if err := json.Unmarshal(benchconfig.Config(n, 1000, func(i int) string { return hex.EncodeToString(s.Keys[i].Digest[:]) }), &cfg); err != nil {
			b.Fatal(err)
		}
		inlineCfg = unlimited(cfg)
	}
	return snap, keys, inlineCfg
}

var benchSigner = ed25519.NewKeyFromSeed(make([]byte, 32))

// benchStoreConfig is benchconfig's configuration with a key store instead
// of consumers.
func benchStoreConfig(b *testing.B) []byte {
	var cfg map[string]any
	if err := json.Unmarshal(benchconfig.Config(10, 1000, func(int) string { return keymat.Hash("x") }), &cfg); err != nil {
		b.Fatal(err)
	}
	delete(cfg, "consumers")
	cfg["key_store"] = map[string]any{"cluster": testKeyCluster, "path": "/keys.snap", "refresh": "10s",
		"public_key": base64.StdEncoding.EncodeToString(benchSigner.Public().(ed25519.PublicKey))}
	return unlimited(cfg)
}

// unlimited sets limits on benchconfig's rate-limit policies that no
// benchmark exhausts, and encodes cfg.
func unlimited(cfg map[string]any) []byte {
	for _, name := range []string{"default", "gold"} {
		cfg["rate_limits"].(map[string]any)[name] = map[string]any{"requests": 1_000_000_000, "per": "1ms", "burst": 1_000_000_000}
	}
	out, _ := json.Marshal(cfg)
	return out
}

// benchSnapServer serves whatever snapshot it holds.
type benchSnapServer struct {
	mu   sync.Mutex
	snap []byte
}

func (s *benchSnapServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	snap := s.snap
	s.mu.Unlock()
	// Ranges, as an object store serves them. (No ETag: every fetch of the
	// benchmark is of a new snapshot.)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(snap))
}

var loadedLine = regexp.MustCompile(`verify ([0-9.]+)(ms|µs|s), index ([0-9.]+)(ms|µs|s), ([0-9]+) steps`)

func durationOf(v, unit string) time.Duration {
	d, _ := time.ParseDuration(v + unit)
	return d
}

// loadInHost fetches and loads the snapshot the server holds (the fetch
// made at start or by a tick before), timing every callback of the VM:
// the HTTP call's response, then the ticks that finish the load. Wasm runs
// on one thread, so the sum is the VM's CPU time.
func loadInHost(b *testing.B, vm *cpphost.VM, h *cpphost.Host, loadsBefore uint64) (total, longest time.Duration) {
	b.Helper()
	t := loadTimed(b, vm, h, loadsBefore)
	return t.total, t.longest
}

// loadTimes is what loadTimed measured: the callbacks' wall time, the
// longest callback, and the CPU time of the thread they ran on (which the
// machine's other load does not inflate), in all and the most one
// callback took.
type loadTimes struct{ total, longest, cpu, longestCPU time.Duration }

// loadTimed is loadInHost, also measuring the CPU time of the callbacks
// (the goroutine is locked to its thread meanwhile: wasm runs on it).
func loadTimed(b *testing.B, vm *cpphost.VM, h *cpphost.Host, loadsBefore uint64) loadTimes {
	b.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var total, longest, cpu, lastCPU, longestCPU time.Duration
	timed := func(f func()) time.Duration {
		c, t := threadCPU(), time.Now()
		f()
		d := time.Since(t)
		lastCPU = threadCPU() - c
		cpu += lastCPU
		longestCPU = max(longestCPU, lastCPU)
		total += d
		longest = max(longest, d)
		return d
	}
	deliver := func() {
		// Let the host read the whole response before the callback is timed.
		if !vm.WaitHTTPCalls(30 * time.Second) {
			b.Fatal("no answer to the snapshot fetch in 30 s")
		}
		d := timed(func() {
			if _, err := vm.DeliverHTTPCalls(time.Second); err != nil {
				b.Fatalf("delivering the snapshot: %v; logs %q", err, vm.LogsAt(logError))
			}
		})
		if os.Getenv("KSDEBUG") != "" {
			fmt.Println("response callback", d, "cpu", lastCPU)
		}
	}
	deliver()
	for h.Counter(metricname.KeyStoreFetch(keyfetch.Loaded)) == loadsBefore {
		if vm.TickPeriod != time.Millisecond {
			b.Fatalf("load not finished, and ticks at %v; logs %q %q", vm.TickPeriod, vm.LogsAt(logWarn), vm.LogsAt(logError))
		}
		m0 := vm.MemorySize()
		d := timed(func() {
			if err := vm.Tick(); err != nil {
				b.Fatal(err)
			}
		})
		if os.Getenv("KSDEBUG") != "" && d > 15*time.Millisecond {
			fmt.Println("tick", d, "cpu", lastCPU, m0>>20, vm.MemorySize()>>20)
		}
		if vm.PendingHTTPCalls() > 0 { // the next range
			deliver()
		}
	}
	// Builds that created the buckets of a swapped-in snapshot's consumers
	// ahead of their first request (before fac0462) did so over the next
	// fast ticks while the snapshot served: their callbacks count as the
	// load's. A build that creates them on first use ticks fast no more.
	for vm.TickPeriod == time.Millisecond {
		d := timed(func() {
			if err := vm.Tick(); err != nil {
				b.Fatal(err)
			}
		})
		if os.Getenv("KSDEBUG") != "" && d > 15*time.Millisecond {
			fmt.Println("preparing tick", d, "cpu", lastCPU)
		}
	}
	return loadTimes{total: total, longest: longest, cpu: cpu, longestCPU: longestCPU}
}

// benchStoreRequests is how many requests meanRequestTimes measures per VM:
// enough for several garbage collections in each, whose cost (a few ms in
// wasm) is part of the per-request cost.
const benchStoreRequests = 10000

// meanRequestTimes is the mean time of a request with one of the real keys
// in vm and, when not nil, in other, alternating between them.
func meanRequestTimes(b *testing.B, vm, other *cpphost.VM, keys []string, n int) (time.Duration, time.Duration) {
	b.Helper()
	path := benchconfig.Path(1000)
	var took [2]time.Duration
	vms := []driver.Env{cpphost.EnvOf(vm)}
	if other != nil {
		vms = append(vms, cpphost.EnvOf(other))
	}
	// The first half warms up (and lets a collection the load started end).
	for i := -n; i < n; i++ {
		if i == 0 {
			took = [2]time.Duration{}
		}
		hs := [][2]string{{":method", "GET"}, {":path", path}, {":authority", "api.example.com"}, {"x-api-key", keys[(i+n)%len(keys)]}}
		for j, v := range vms {
			t := time.Now()
			r, err := v.Do(driver.Request{Headers: hs})
			took[j] += time.Since(t)
			if err != nil {
				b.Fatal(err)
			}
			if r.Local != nil {
				b.Fatalf("request %d denied: %d %s", i, r.Local.Status, r.Local.Body)
			}
		}
	}
	return took[0] / time.Duration(n), took[1] / time.Duration(n)
}

// BenchmarkKeyStoreLoad loads a snapshot of n keys (n/10 consumers) in the
// cpp-host-modelled host over a loopback HTTP server, as a worker does at
// start, then a second generation while the first serves. It reports the
// plugin start before the fetch (start-ms: compiling the configuration and
// sending the HTTP call), the load's CPU time (load-ms, all callbacks from
// the HTTP call's response on), the longest of those callbacks
// (max-cb-ms), what of the load the verification (signature and SHA-256)
// and the indexing took as the VM measured them, linear memory after the
// first and the second load, the snapshot's size per key, and the mean
// request time with snapshot keys (req-us) against the same keys inline
// (inline-req-us, for sizes the inline configuration can be compiled at).
func BenchmarkKeyStoreLoad(b *testing.B) {
	quietEmulator(b)
	wasm := vmtest.Plain(b)
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			inline := n <= 100_000
			snap, keys, inlineCfg := benchStore(b, n, 1, inline)
			snap2, _, _ := benchStore(b, n, 2, false)
			srv := &benchSnapServer{snap: snap}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			cfg := benchStoreConfig(b)
			var start, load, longest, load2, longest2, verify, index, push time.Duration
			var mem1, mem2, memPush uint32
			var steps int
			var req, inlineReq time.Duration
			for b.Loop() {
				var inlineVM *cpphost.VM
				var inlineHost *cpphost.Host
				if inline {
					var err error
					if inlineHost, err = cpphost.New(context.Background(), wasm, cpphost.Options{RealClock: true, ReserveMemory: true}); err != nil {
						b.Fatal(err)
					}
					if inlineVM, err = inlineHost.StartWorker(cpphost.Plugin{Name: "apiguard", Configuration: inlineCfg}); err != nil {
						b.Fatal(err)
					}
				}
				h, err := cpphost.New(context.Background(), wasm, cpphost.Options{RealClock: true, ReserveMemory: true, Env: debugEnv(), Output: debugOut(),
					Clusters: map[string]string{testKeyCluster: ts.Listener.Addr().String()}})
				if err != nil {
					b.Fatal(err)
				}
				srv.mu.Lock()
				srv.snap = snap
				srv.mu.Unlock()
				vm, err := h.StartWorker(cpphost.Plugin{Name: "apiguard", Configuration: cfg})
				if err != nil {
					b.Fatal(err)
				}
				l, lo := loadInHost(b, vm, h, 0)
				load, longest = load+l, max(longest, lo)
				start += vm.ConfigureTime
				mem1 = max(mem1, vm.MemorySize())
				for _, line := range vm.LogsAt(logInfo) {
					if m := loadedLine.FindStringSubmatch(line); m != nil {
						verify += durationOf(m[1], m[2])
						index += durationOf(m[3], m[4])
						steps, _ = strconv.Atoi(m[5])
					}
				}
				// Requests alternate between the two VMs, so that both see
				// the same load of the machine.
				sr, ir := meanRequestTimes(b, vm, inlineVM, keys, benchStoreRequests)
				req, inlineReq = req+sr, inlineReq+ir
				if inlineVM != nil {
					inlineVM.Close()
					inlineHost.Close()
				}

				// A configuration push: the new plugin binds the VM's verified
				// snapshot in its start, and serves at once.
				begin := time.Now()
				if err := vm.PushConfig(pushedConfig(b, cfg)); err != nil {
					b.Fatal(err)
				}
				push += time.Since(begin)
				memPush = max(memPush, vm.MemorySize())
				if r, err := cpphost.EnvOf(vm).Do(driver.Request{Headers: [][2]string{{":method", "GET"}, {":path", benchconfig.Path(1000)},
					{":authority", "api.example.com"}, {"x-api-key", keys[0]}}}); err != nil || r.Local != nil {
					b.Fatalf("request right after a push: %v %+v", err, r.Local)
				}
				if _, err := vm.DeliverHTTPCalls(30 * time.Second); err != nil { // the background revalidation
					b.Fatal(err)
				}

				// The next generation, loaded while the first serves.
				srv.mu.Lock()
				srv.snap = snap2
				srv.mu.Unlock()
				for vm.TickPeriod == time.Millisecond { // the push's preparation (older builds)
					if err := vm.Tick(); err != nil {
						b.Fatal(err)
					}
				}
				if err := vm.Tick(); err != nil {
					b.Fatal(err)
				}
				l, lo = loadInHost(b, vm, h, h.Counter(metricname.KeyStoreFetch(keyfetch.Loaded)))
				load2, longest2 = load2+l, max(longest2, lo)
				mem2 = max(mem2, vm.MemorySize())
				vm.Close()
				h.Close()

			}
			N := float64(b.N)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / N }
			b.ReportMetric(ms(start), "start-ms")
			b.ReportMetric(ms(load), "load-ms")
			b.ReportMetric(float64(longest.Microseconds())/1e3, "max-cb-ms")
			b.ReportMetric(ms(verify), "verify-ms")
			b.ReportMetric(ms(index), "index-ms")
			b.ReportMetric(float64(steps), "steps")
			b.ReportMetric(ms(push), "push-ms")
			b.ReportMetric(ms(load2), "reload-ms")
			b.ReportMetric(float64(longest2.Microseconds())/1e3, "reload-max-cb-ms")
			b.ReportMetric(float64(mem1)/mib, "mem-MiB")
			b.ReportMetric(float64(memPush)/mib, "mem-push-MiB")
			b.ReportMetric(float64(mem2)/mib, "mem-reload-MiB")
			b.ReportMetric(float64(len(snap))/float64(n), "bytes/key")
			b.ReportMetric(float64(req.Nanoseconds())/1e3/N, "req-us")
			if inline {
				b.ReportMetric(float64(inlineReq.Nanoseconds())/1e3/N, "inline-req-us")
			}
		})
	}
}

// pushedConfig is cfg with another refresh: a new plugin configuration for
// the same key store.
func pushedConfig(b *testing.B, cfg []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		b.Fatal(err)
	}
	m["key_store"].(map[string]any)["refresh"] = "11s"
	out, _ := json.Marshal(m)
	return out
}

func debugEnv() map[string]string {
	if os.Getenv("KSDEBUG") != "" {
		return map[string]string{"GODEBUG": "gctrace=1"}
	}
	return nil
}

func debugOut() io.Writer {
	if os.Getenv("KSDEBUG") != "" {
		return os.Stdout
	}
	return nil
}
