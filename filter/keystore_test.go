package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keyfetch"
	"github.com/apiguard/apiguard/policy/keymat"
	"github.com/apiguard/apiguard/policy/keysnap"
)

var (
	testSigner  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	otherSigner = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
)

// keyStoreConfig is testConfig with a key store in place of the consumers.
func keyStoreConfig(t testing.TB, k testKeys) []byte {
	return testConfig(t, k, func(cfg map[string]any) {
		delete(cfg, "consumers")
		cfg["key_store"] = map[string]any{
			"cluster": testKeyCluster, "authority": "keys.internal", "path": "/apiguard/keys.snap",
			"refresh": "1s", "timeout": "300ms",
			"public_key": base64.StdEncoding.EncodeToString(testSigner.Public().(ed25519.PublicKey)),
		}
	})
}

// testSnapshot is a snapshot of testConfig's consumers, changed by edit
// when not nil, signed with signer.
func testSnapshot(t testing.TB, k testKeys, gen uint64, signer ed25519.PrivateKey, edit func(consumers []any)) []byte {
	t.Helper()
	return snapshotFor(t, k, gen, signer, "", edit)
}

// snapshotFor is testSnapshot for audience.
func snapshotFor(t testing.TB, k testKeys, gen uint64, signer ed25519.PrivateKey, audience string, edit func(consumers []any)) []byte {
	t.Helper()
	var consumers []any
	testConfig(t, k, func(cfg map[string]any) { consumers = cfg["consumers"].([]any) })
	if edit != nil {
		edit(consumers)
	}
	doc, err := json.Marshal(map[string]any{"consumers": consumers})
	if err != nil {
		t.Fatal(err)
	}
	cons, keys, err := policy.ParseConsumers(doc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := keysnap.Encode(&keysnap.Snapshot{Generation: gen, Created: testNow, Audience: audience, Consumers: cons, Keys: keys}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keyServer serves a snapshot, or fails in the way mode says.
type keyServer struct {
	mu   sync.Mutex
	snap []byte
	etag string
	mode string
	// ifNoneMatch holds the If-None-Match of every request ("" for none),
	// ranges its Range and If-Range.
	ifNoneMatch []string
	ranges      []string
	// hook, when set, runs before each answer.
	hook func(*http.Request)
	// answer, when set, answers instead of the snapshot when it returns
	// true (a store that misbehaves in a way no mode covers).
	answer func(w http.ResponseWriter, r *http.Request, snap []byte, etag string) bool
}

// Failure modes.
const (
	modeDown     = "down"     // the connection is closed without a response
	modeSlow     = "slow"     // answers after the plugin's timeout
	mode500      = "500"      // answers 500
	modeTruncate = "truncate" // the connection closes in the middle of the body
	modePartial  = "partial"  // a complete 200 with half a snapshot
)

func (s *keyServer) set(snap []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := sha256.Sum256(snap)
	s.snap, s.etag = snap, `"`+hex.EncodeToString(sum[:8])+`"`
}

func (s *keyServer) setAnswer(fn func(w http.ResponseWriter, r *http.Request, snap []byte, etag string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = fn
}

func (s *keyServer) setMode(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

func (s *keyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	snap, etag, mode := s.snap, s.etag, s.mode
	s.ifNoneMatch = append(s.ifNoneMatch, r.Header.Get("If-None-Match"))
	s.ranges = append(s.ranges, r.Header.Get("Range")+" "+r.Header.Get("If-Range"))
	hook, answer := s.hook, s.answer
	s.mu.Unlock()
	if hook != nil {
		hook(r)
		s.mu.Lock()
		snap, etag = s.snap, s.etag
		s.mu.Unlock()
	}
	if answer != nil && answer(w, r, snap, etag) {
		return
	}
	switch mode {
	case modeDown:
		panic(http.ErrAbortHandler)
	case modeSlow:
		time.Sleep(time.Second)
	case mode500:
		http.Error(w, "store broken", 500)
		return
	case modeTruncate:
		w.Header().Set("Content-Length", strconv.Itoa(len(snap)))
		w.Write(snap[:len(snap)/2])
		panic(http.ErrAbortHandler)
	case modePartial:
		w.Write(snap[:len(snap)/2])
		return
	}
	// ServeContent answers If-None-Match (304), Range (206) and If-Range
	// as an object store does.
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(snap))
}

func startKeyStore(t *testing.T, vm vmtest.Runner, k testKeys, srv *keyServer) *env {
	t.Helper()
	return startKeyStoreWith(t, vm, keyStoreConfig(t, k), srv)
}

func startKeyStoreWith(t *testing.T, vm vmtest.Runner, config []byte, srv *keyServer) *env {
	t.Helper()
	return startWith(t, vm, config, types.OnPluginStartStatusOK,
		&testKeyStore{handler: srv, timeout: 300 * time.Millisecond})
}

func wantStatus(t *testing.T, o outcome, status int, what string) {
	t.Helper()
	got := 200
	if o.local != nil {
		got = int(o.local.StatusCode)
	}
	if got != status {
		t.Fatalf("%s: status %d, want %d (%+v)", what, got, status, o.local)
	}
}

// Before its first snapshot the plugin answers 503 to requests that need a
// key and serves public routes; the first snapshot is fetched with the
// configured cluster, authority and path, and later fetches revalidate it.
func TestKeyStoreFetch(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 1, testSigner, nil))
		e := startKeyStore(t, vm, k, srv)

		calls := e.httpCalls()
		if len(calls) != 1 {
			t.Fatalf("%d HTTP calls at start, want 1", len(calls))
		}
		c := calls[0]
		for name, want := range map[string]string{":method": "GET", ":authority": "keys.internal", ":path": "/apiguard/keys.snap"} {
			if got, _ := header(c.headers, name); got != want || c.cluster != testKeyCluster {
				t.Errorf("call to %q: %s = %q, want %q", c.cluster, name, got, want)
			}
		}
		if _, ok := header(c.headers, "if-none-match"); ok {
			t.Error("first fetch sends If-None-Match")
		}

		o := e.do("/v1/orders", [2]string{"x-api-key", k.billing})
		wantStatus(t, o, 503, "before the first snapshot")
		if ra, _ := header(o.local.Headers, "retry-after"); ra != "1" {
			t.Errorf("retry-after %q, want 1", ra)
		}
		if ct, _ := header(o.local.Headers, "content-type"); ct != problemContentType || !strings.Contains(string(o.local.Data), `"type":"https://apiguard.dev/problems/key_store_unavailable"`) {
			t.Errorf("503 body %s (%s)", o.local.Data, ct)
		}
		wantStatus(t, e.do("/v1/orders"), 503, "no key, before the first snapshot")
		wantStatus(t, e.do("/healthz"), 200, "public route before the first snapshot")
		if n := e.counter(metricname.DecisionPrefix + "key_store_unavailable"); n != 2 {
			t.Errorf("key_store_unavailable decisions %d, want 2", n)
		}

		if n := e.deliverAll(); n != 1 {
			t.Fatalf("%d calls delivered", n)
		}
		o = e.do("/v1/orders", [2]string{"x-api-key", k.billing})
		wantStatus(t, o, 200, "billing key after the snapshot")
		if got, _ := header(o.upstream, "x-apiguard-consumer"); got != "billing" {
			t.Errorf("consumer header %q", got)
		}
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billingRevoked}), 401, "revoked key")
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billingExpired}), 401, "expired key")
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.unknown}), 401, "unknown key")
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.reader}), 403, "reader on orders")
		if g := e.gauge(metricname.KeyStoreGeneration); g != 1 {
			t.Errorf("generation gauge %d", g)
		}
		if g := e.gauge(metricname.KeyStoreKeys); g != 5 {
			t.Errorf("keys gauge %d", g)
		}

		// Unchanged: revalidated with the ETag, 304, nothing changes.
		e.refresh()
		calls = e.httpCalls()
		if inm, _ := header(calls[len(calls)-1].headers, "if-none-match"); inm != srv.etag {
			t.Errorf("If-None-Match %q, want %q", inm, srv.etag)
		}
		if n := e.counter(metricname.KeyStoreFetch(keyfetch.NotModified)); n != 1 {
			t.Errorf("not_modified fetches %d", n)
		}
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "after a 304")

		// A new generation revokes billing-2026 and adds a key to reader:
		// the unknown key refused above, whose refusal the policy before
		// remembered (policy/keycache_miss.go) and the swap forgets.
		srv.set(testSnapshot(t, k, 2, testSigner, func(cs []any) {
			keys := cs[0].(map[string]any)["keys"].([]any)
			keys[0].(map[string]any)["revoked"] = true
			r := cs[1].(map[string]any)
			r["keys"] = append(r["keys"].([]any), map[string]any{"id": "reader-2", "sha256": keymat.Hash(k.unknown)})
		}))
		e.refresh()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 401, "revoked in generation 2")
		o = e.do("/v1/files/a", [2]string{"x-api-key", k.unknown})
		wantStatus(t, o, 200, "key added in generation 2")
		if got, _ := header(o.upstream, "x-apiguard-key-id"); got != "reader-2" {
			t.Errorf("key id header %q", got)
		}
		if g := e.gauge(metricname.KeyStoreGeneration); g != 2 {
			t.Errorf("generation gauge %d", g)
		}
		if n := e.counter(metricname.KeyStoreFetch(keyfetch.Loaded)); n != 2 {
			t.Errorf("loaded fetches %d", n)
		}
	})
}

// Every kind of failure keeps the last good snapshot, is counted, and is
// logged once however often it repeats; no log line holds a key or its
// hash.
func TestKeyStoreKeepsLastGood(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		srv := &keyServer{}
		good := testSnapshot(t, k, 5, testSigner, nil)
		srv.set(good)
		e := startKeyStore(t, vm, k, srv)
		e.deliverAll()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "generation 5")

		revokeAll := func(cs []any) {
			for _, c := range cs {
				for _, kk := range c.(map[string]any)["keys"].([]any) {
					kk.(map[string]any)["revoked"] = true
				}
			}
		}
		corrupt := testSnapshot(t, k, 6, testSigner, revokeAll)
		corrupt[len(corrupt)-1] ^= 0x40
		for _, tc := range []struct {
			name, mode string
			snap       []byte
			counter    string
		}{
			// Adjacent cases differ in state, so each is logged once.
			{"server down", modeDown, nil, metricname.KeyStoreFetch(keyfetch.Failed)},
			{"500", mode500, nil, metricname.KeyStoreFetch(keyfetch.HTTPError)},
			{"slow (timeout)", modeSlow, nil, metricname.KeyStoreFetch(keyfetch.Failed)},
			{"truncated snapshot", modePartial, testSnapshot(t, k, 6, testSigner, revokeAll), metricname.KeyStoreReject(policy.CauseTruncated)},
			{"connection closed mid-body", modeTruncate, nil, metricname.KeyStoreFetch(keyfetch.Failed)},
			{"corrupt body", "", corrupt, metricname.KeyStoreReject(policy.CauseCorrupt)},
			{"bad signature", "", testSnapshot(t, k, 6, otherSigner, revokeAll), metricname.KeyStoreReject(policy.CauseBadSignature)},
			{"older generation", "", testSnapshot(t, k, 4, testSigner, revokeAll), metricname.KeyStoreReject(policy.CauseOlderGeneration)},
			{"unsigned", "", testSnapshot(t, k, 6, nil, revokeAll), metricname.KeyStoreReject(policy.CauseUnsigned)},
			{"same generation, other content", "", testSnapshot(t, k, 5, testSigner, revokeAll), metricname.KeyStoreReject(policy.CauseOlderGeneration)},
			{"unknown rate-limit policy", "", testSnapshot(t, k, 6, testSigner, func(cs []any) {
				revokeAll(cs)
				cs[1].(map[string]any)["rate_limit"] = "platinum"
			}), metricname.KeyStoreReject(policy.CauseConfigMismatch)},
		} {
			if tc.snap != nil {
				srv.set(tc.snap)
			}
			srv.setMode(tc.mode)
			before := e.counter(tc.counter)
			warns := len(e.logs(logWarn))
			e.refresh()
			e.refresh()
			if n := e.counter(tc.counter) - before; n != 2 {
				t.Errorf("%s: %s counted %d times in two refreshes, want 2", tc.name, tc.counter, n)
			}
			if n := len(e.logs(logWarn)) - warns; n != 1 {
				t.Errorf("%s: %d warnings in two refreshes, want 1: %q", tc.name, n, e.logs(logWarn)[warns:])
			}
			o := e.do("/v1/orders", [2]string{"x-api-key", k.billing})
			wantStatus(t, o, 200, tc.name+": last good snapshot")
			if g := e.gauge(metricname.KeyStoreGeneration); g != 5 {
				t.Errorf("%s: generation gauge %d", tc.name, g)
			}
		}
		// Fixed: the next good snapshot loads, and the recovery is logged.
		srv.setMode("")
		srv.set(testSnapshot(t, k, 7, testSigner, revokeAll))
		e.refresh()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 401, "generation 7 revokes every key")
		infos := strings.Join(e.logs(logInfo), "\n")
		if !strings.Contains(infos, "fetching works again") || !strings.Contains(infos, "loaded generation 7") {
			t.Errorf("info logs: %s", infos)
		}
		for level := logTrace; level <= logCritical; level++ {
			for _, line := range e.logs(level) {
				for _, secret := range []string{k.billing, keymat.Hash(k.billing), k.reader, keymat.Hash(k.reader)} {
					if strings.Contains(line, secret) {
						t.Errorf("log line holds key material: %q", line)
					}
				}
			}
		}
	})
}

// Failures before the first snapshot keep answering 503; a later good
// snapshot is loaded.
func TestKeyStoreUnavailableUntilFirstSnapshot(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 1, otherSigner, nil))
		srv.setMode(mode500)
		e := startKeyStore(t, vm, k, srv)
		e.deliverAll()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 503, "after a 500")
		srv.setMode("")
		e.refresh()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 503, "after a bad signature")
		if errs := e.logs(logError); len(errs) != 2 || !strings.Contains(errs[1], "bad_signature") {
			t.Errorf("error logs %q", errs)
		}
		srv.set(testSnapshot(t, k, 1, testSigner, nil))
		e.refresh()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "after a good snapshot")
		if inm := srv.ifNoneMatch; len(inm) != 3 || inm[0] != "" || inm[1] != "" || inm[2] != "" {
			t.Errorf("If-None-Match before any snapshot was loaded: %q", inm)
		}
	})
}

// Two workers (VMs) fetch on their own and converge on the newest snapshot
// within one refresh. Only cpphost runs two VMs: the SDK's emulator holds
// one plugin per process.
func TestKeyStoreWorkersConverge(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		skipUnless[driver.Workers](t, vm, "two worker VMs over one shared data: the SDK's emulator runs one VM per process, cpphost two")
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 1, testSigner, nil))
		e1 := startKeyStore(t, vm, k, srv)
		e2 := e1.worker()
		e2.setSourceAddress(testSourceAddress)
		e2.setTime(testNow)
		for _, e := range []*env{e1, e2} {
			e.deliverAll()
			wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "generation 1")
		}
		srv.set(testSnapshot(t, k, 2, testSigner, func(cs []any) {
			cs[0].(map[string]any)["keys"].([]any)[0].(map[string]any)["revoked"] = true
		}))
		for i, e := range []*env{e1, e2} {
			e.refresh()
			wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 401, "worker "+strconv.Itoa(i+1)+" after one refresh")
		}
		// Each worker sets the gauge (it does not add to a sum).
		if g := e1.gauge(metricname.KeyStoreGeneration); g != 2 {
			t.Errorf("generation gauge with two workers on generation 2: %d", g)
		}
		if n := e1.counter(metricname.KeyStoreFetch(keyfetch.Loaded)); n != 4 {
			t.Errorf("loads summed over both workers: %d, want 4", n)
		}
	})
}

// With chunk_size, the snapshot is fetched in ranges, one per tick; a
// snapshot replaced between two ranges comes whole (If-Range), never mixed.
func TestKeyStoreRanges(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		more := func(gen int) func(cs []any) {
			return func(cs []any) {
				r := cs[1].(map[string]any)
				for i := 0; i < 60; i++ {
					r["keys"] = append(r["keys"].([]any), map[string]any{"id": "extra-" + strconv.Itoa(gen) + "-" + strconv.Itoa(i),
						"sha256": keymat.Hash("extra-" + strconv.Itoa(gen) + "-" + strconv.Itoa(i))})
				}
			}
		}
		srv := &keyServer{}
		snap1 := testSnapshot(t, k, 1, testSigner, more(1))
		if len(snap1) < 3*1024 {
			t.Fatalf("snapshot of %d bytes: too small for three ranges", len(snap1))
		}
		srv.set(snap1)
		cfg := testConfig(t, k, func(cfg map[string]any) {
			delete(cfg, "consumers")
			cfg["key_store"] = map[string]any{"cluster": testKeyCluster, "path": "/keys.snap", "refresh": "1s", "timeout": "300ms",
				"chunk_size": 1024, "public_key": base64.StdEncoding.EncodeToString(testSigner.Public().(ed25519.PublicKey))}
		})
		e := startKeyStoreWith(t, vm, cfg, srv)
		want := (len(snap1) + 1023) / 1024
		if n := e.deliverAll(); n != want {
			t.Fatalf("%d HTTP calls for %d bytes in 1024-byte ranges, want %d", n, len(snap1), want)
		}
		if srv.ranges[0] != "bytes=0-1023 " || srv.ranges[1] != "bytes=1024-2047 "+srv.etag {
			t.Errorf("ranges asked for: %q", srv.ranges)
		}
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "after a ranged load")
		if g := e.gauge(metricname.KeyStoreGeneration); g != 1 {
			t.Fatalf("generation %d", g)
		}

		// The snapshot changes after the first range of the next fetch.
		srv.set(testSnapshot(t, k, 2, testSigner, more(2)))
		snap3 := testSnapshot(t, k, 3, testSigner, func(cs []any) {
			more(3)(cs)
			cs[0].(map[string]any)["keys"].([]any)[0].(map[string]any)["revoked"] = true
		})
		srv.mu.Lock()
		srv.hook = func(r *http.Request) {
			if strings.HasPrefix(r.Header.Get("Range"), "bytes=1024-") {
				srv.set(snap3)
				srv.mu.Lock()
				srv.hook = nil
				srv.mu.Unlock()
			}
		}
		srv.mu.Unlock()
		e.refresh()
		if g := e.gauge(metricname.KeyStoreGeneration); g != 3 {
			t.Fatalf("generation %d after a snapshot replaced mid-fetch, want 3", g)
		}
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 401, "revoked in generation 3")
		if n := e.counter(metricname.KeyStoreReject(policy.CauseCorrupt)); n != 0 {
			t.Errorf("%d corrupt snapshots: parts were mixed", n)
		}
	})
}

// Until a first snapshot loads, the store is asked every second (and 503s
// say so); then every refresh.
func TestKeyStoreRetriesFastUntilFirstSnapshot(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 1, testSigner, nil))
		srv.setMode(mode500)
		cfg := testConfig(t, k, func(cfg map[string]any) {
			delete(cfg, "consumers")
			cfg["key_store"] = map[string]any{"cluster": testKeyCluster, "path": "/keys.snap", "refresh": "30s",
				"public_key": base64.StdEncoding.EncodeToString(testSigner.Public().(ed25519.PublicKey))}
		})
		e := startKeyStoreWith(t, vm, cfg, srv)
		e.deliverAll()
		if p := e.tickPeriod(); p != time.Second {
			t.Errorf("tick period %v before the first snapshot, want 1s", p)
		}
		o := e.do("/v1/orders", [2]string{"x-api-key", k.billing})
		wantStatus(t, o, 503, "after a 500")
		if ra, _ := header(o.local.Headers, "retry-after"); ra != "1" {
			t.Errorf("retry-after %q before the first snapshot, want 1", ra)
		}
		srv.setMode("")
		e.refresh()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "after the first snapshot")
		if p := e.tickPeriod(); p != 30*time.Second {
			t.Errorf("tick period %v after the first snapshot, want the refresh, 30s", p)
		}
	})
}

// Connection refused (a cluster whose endpoint has nothing listening) is
// a failed fetch. Only cpphost makes real connections; the emulator runners
// see failed calls in TestKeyStoreKeepsLastGood.
func TestKeyStoreConnectionRefused(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		k := newTestKeys(t)
		e := start(t, vm, keyStoreConfig(t, k), withEndpoint(testKeyCluster, addr))
		e.deliverAll()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 503, "store refusing connections")
		if n := e.counter(metricname.KeyStoreFetch(keyfetch.Failed)); n != 1 {
			t.Errorf("failed fetches %d, want 1", n)
		}
		if errs := e.logs(logError); len(errs) != 1 || !strings.Contains(errs[0], "no response from cluster") {
			t.Errorf("error logs %q", errs)
		}
	})
}

// A snapshot of several keysnap.Buffer segments, fetched whole and in
// ranges that end inside segments, is written into place range by range
// and serves every key, whichever segment its record, id or window lies in.
func TestKeyStoreSegmentedSnapshot(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		const extra = 16000
		raws := make([]string, extra+1)
		for i := range raws {
			raws[i] = testKey(t, int64(50_000+i))
		}
		raw := func(i int) string { return raws[i] }
		snap := testSnapshot(t, k, 1, testSigner, func(cs []any) {
			r := cs[1].(map[string]any)
			for i := 0; i < extra; i++ {
				key := map[string]any{"id": "extra-" + strconv.Itoa(i), "sha256": keymat.Hash(raw(i))}
				if i%3 == 0 { // a validity window per key: the window section spans segment edges too
					key["not_after"] = time.Date(2030, 1, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339)
				}
				r["keys"] = append(r["keys"].([]any), key)
			}
		})
		if len(snap) < 3*keysnap.SegmentSize {
			t.Fatalf("snapshot of %d bytes: fewer than three segments", len(snap))
		}
		for _, chunk := range []int{100_000, 0} { // one plugin at a time: the SDK's emulator is one per process
			t.Run("chunk_size="+strconv.Itoa(chunk), func(t *testing.T) {
				srv := &keyServer{}
				srv.set(snap)
				cfg := testConfig(t, k, func(cfg map[string]any) {
					delete(cfg, "consumers")
					ks := map[string]any{"cluster": testKeyCluster, "path": "/keys.snap", "refresh": "1s", "timeout": "300ms",
						"public_key": base64.StdEncoding.EncodeToString(testSigner.Public().(ed25519.PublicKey))}
					if chunk > 0 {
						ks["chunk_size"] = chunk
					}
					cfg["key_store"] = ks
				})
				e := startKeyStoreWith(t, vm, cfg, srv)
				calls := e.deliverAll()
				if want := (len(snap) + chunk - 1) / max(chunk, 1); chunk > 0 && calls != want {
					t.Fatalf("%d HTTP calls for %d bytes in %d-byte ranges, want %d", calls, len(snap), chunk, want)
				}
				if g := e.gauge(metricname.KeyStoreGeneration); g != 1 {
					t.Fatalf("chunk %d: generation %d; logs %q", chunk, g, e.logs(logWarn))
				}
				wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "the consumer's own key")
				for _, i := range []int{0, 1, extra / 3, extra / 2, extra - 2, extra - 1} {
					wantStatus(t, e.do("/v1/files/a", [2]string{"x-api-key", raw(i)}), 200, "extra key "+strconv.Itoa(i))
				}
				wantStatus(t, e.do("/v1/files/a", [2]string{"x-api-key", raw(extra)}), 401, "a key not in the snapshot")
			})
		}
	})
}
