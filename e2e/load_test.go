package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy"
)

// Size of the GC-heavy scenario (TestGCHeavyLoad).
const (
	loadConsumers = 20_000
	loadRoutes    = 100
	loadRequests  = 30_000
	loadSeed      = 11
)

// TestLoadDecisions checks the generated scenario without Envoy: the
// configuration compiles and has the consumers it claims, and every planned
// request gets, from policy itself, the status and consumer the load
// expects, so that a mismatch in the real-Envoy run is the filter's or the
// host's fault, not the plan's.
func TestLoadDecisions(t *testing.T) {
	l, err := NewLoad(loadConsumers, loadRoutes, loadSeed)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("configuration: %d consumers, %.1f MiB of JSON", len(l.Consumers), float64(len(l.Config))/(1<<20))
	if len(l.Consumers) < 20_000 {
		t.Fatalf("%d consumers, want at least 20000", len(l.Consumers))
	}
	p, err := policy.Compile(l.Config)
	if err != nil {
		t.Fatal(err)
	}
	if w := p.Warnings(); len(w) > 0 {
		t.Errorf("configuration warnings: %v", w)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	statuses := map[int]int{}
	seen := map[string]bool{}
	for i := range loadRequests {
		r := l.Request(i)
		statuses[r.Status]++
		hs := policy.HeaderList{{":method", r.Method}, {":path", r.Path}}
		if r.Key != "" {
			hs = append(hs, [2]string{"x-api-key", r.Key})
		}
		d := p.Decide(policy.Request{Method: r.Method, Path: r.Path, Headers: hs, ClientIP: "192.0.2.7", Now: now})
		if d.Status != r.Status {
			t.Fatalf("request %d (%s %s): policy answers %d (%s), the load expects %d", i, r.Method, r.Path, d.Status, d.Reason, r.Status)
		}
		if r.Status == http.StatusOK {
			if d.Identity.Consumer != r.Consumer || d.Upstream.SetHeaders[0] != [2]string{"x-apiguard-consumer", r.Consumer} {
				t.Fatalf("request %d: consumer %q, headers %v; want %q", i, d.Identity.Consumer, d.Upstream.SetHeaders, r.Consumer)
			}
			seen[r.Consumer] = true
		}
	}
	t.Logf("statuses: %v; %d consumers admitted", statuses, len(seen))
	for _, s := range []int{http.StatusOK, http.StatusForbidden, http.StatusUnauthorized} {
		if statuses[s] == 0 {
			t.Errorf("no request expects %d", s)
		}
	}
	// The keys are spread over the configuration, not a handful of hot
	// entries: most admitted requests name a consumer not seen before.
	if len(seen) < statuses[http.StatusOK]/2 {
		t.Errorf("%d distinct consumers for %d admitted requests", len(seen), statuses[http.StatusOK])
	}
	// The same seed gives the same configuration.
	again, err := NewLoad(loadConsumers, loadRoutes, loadSeed)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Config) != string(l.Config) {
		t.Error("NewLoad is not deterministic")
	}
}

// vmFailureLines are what Envoy logs when a Wasm VM traps or fails to
// start or configure (Envoy's Wasm::error prefixes cpp-host's message with
// "Wasm VM failed"; a trap's message is "Function: <export> failed: ...";
// a host call outside cpp-host's allow list traps as "restricted_callback").
var vmFailureLines = []string{"Wasm VM failed", "restricted_callback", "Function: proxy_", "failed to load", "Failed to configure thread-local"}

// TestGCHeavyLoad sends loadRequests requests, over 16 kept-alive
// connections spread over Envoy's two workers, through a configuration of
// loadConsumers consumers: each worker's Go runtime collects garbage many
// times while serving. Every request must get the answer policy gives it
// (TestLoadDecisions), none a 503, and Envoy must log no VM failure. In
// Envoy 1.33–1.38 (proxy-wasm-cpp-host before PR #533) a collection that
// starts inside proxy_on_memory_allocate calls poll_oneoff, which cpp-host
// forbids there: the worker's VM traps and, fail closed, answers 503.
func TestGCHeavyLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the GC-heavy real-Envoy load (30k requests) in -short mode")
	}
	bin := needEnvoy(t)
	l, err := NewLoad(loadConsumers, loadRoutes, loadSeed)
	if err != nil {
		t.Fatal(err)
	}
	up := startEcho(t)
	env := startEnvoy(t, bin, renderConfig(t, up, l.Config, true))

	const conns = 16
	var (
		mu        sync.Mutex
		statuses  = map[int]int{}
		unexpects []string
		next      atomic.Int64
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		unexpects = append(unexpects, fmt.Sprintf(format, args...))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: httpTimeout, Transport: &http.Transport{MaxConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for {
				i := int(next.Add(1) - 1)
				if i >= loadRequests {
					return
				}
				want := l.Request(i)
				req, _ := http.NewRequest(want.Method, "http://"+env.listen+want.Path, nil)
				if want.Key != "" {
					req.Header.Set("x-api-key", want.Key)
				}
				resp, err := client.Do(req)
				if err != nil {
					fail("request %d: %v", i, err)
					return
				}
				body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
				switch {
				case err != nil:
					fail("request %d: %v", i, err)
				case resp.StatusCode != want.Status:
					fail("request %d (%s %s): status %d, want %d: %s", i, want.Method, want.Path, resp.StatusCode, want.Status, body)
				case want.Status == http.StatusOK:
					var e echoed
					if err := json.Unmarshal(body, &e); err != nil {
						fail("request %d: upstream answer: %v", i, err)
					} else if c, _ := e.header("x-apiguard-consumer"); c != want.Consumer {
						fail("request %d: upstream saw consumer %q, want %q", i, c, want.Consumer)
					} else if _, leaked := e.header("x-api-key"); leaked {
						fail("request %d: the key reached the upstream", i)
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d requests in %v (%.0f/s) over %d connections: statuses %v",
		loadRequests, elapsed.Round(time.Millisecond), float64(loadRequests)/elapsed.Seconds(), conns, statuses)

	if n := statuses[http.StatusServiceUnavailable]; n > 0 {
		t.Errorf("%d responses were 503: a worker's VM failed", n)
	}
	if len(unexpects) > 0 {
		t.Errorf("%d unexpected outcomes; the first ones:\n%s", len(unexpects), strings.Join(unexpects[:min(len(unexpects), 10)], "\n"))
	}
	_, stats, err := env.adminGet("/stats?filter=" + url.QueryEscape(`wasmcustom\.apiguard\.internal_errors|worker_\d+\.downstream_cx_total`))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^wasmcustom\.apiguard\.internal_errors: (\d+)$`).FindStringSubmatch(stats); m != nil && m[1] != "0" {
		t.Errorf("apiguard.internal_errors = %s, want 0", m[1])
	}
	if goruntime.GOOS == "linux" {
		busy := 0
		for _, m := range regexp.MustCompile(`(?m)^listener\..*worker_(\d+)\.downstream_cx_total: (\d+)$`).FindAllStringSubmatch(stats, -1) {
			if n, _ := strconv.Atoi(m[2]); n > 0 {
				busy++
			}
		}
		if busy < 2 {
			t.Errorf("connections reached %d worker(s), want 2: the load did not exercise both VMs; stats:\n%s", busy, stats)
		}
	}
	env.stop()
	log := env.log.String()
	for _, s := range vmFailureLines {
		if lines := grepLines(log, s); lines != "" {
			t.Errorf("Envoy logged a VM failure (%q):\n%s", s, lines)
		}
	}
}
