package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keyfetch"
	"github.com/apiguard/apiguard/policy/keymat"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// encodeSnapshot is testSnapshot signed by testSigner for audience.
func encodeSnapshot(t testing.TB, k testKeys, gen uint64, audience string, edit func(consumers []any)) []byte {
	t.Helper()
	return snapshotFor(t, k, gen, testSigner, audience, edit)
}

// rangedKeyStoreConfig is keyStoreConfig fetching in 1024-byte ranges,
// edited by edit (the key_store section) when not nil.
func rangedKeyStoreConfig(t testing.TB, k testKeys, edit func(ks map[string]any)) []byte {
	return testConfig(t, k, func(cfg map[string]any) {
		delete(cfg, "consumers")
		ks := map[string]any{"cluster": testKeyCluster, "path": "/keys.snap", "refresh": "1s", "timeout": "300ms",
			"chunk_size": 1024, "public_key": base64.StdEncoding.EncodeToString(testSigner.Public().(ed25519.PublicKey))}
		if edit != nil {
			edit(ks)
		}
		cfg["key_store"] = ks
	})
}

// bigSnapshot is a snapshot of testConfig's consumers with n more keys for
// reader, large enough for several ranges.
func bigSnapshot(t testing.TB, k testKeys, gen uint64, n int, edit func(cs []any)) []byte {
	return encodeSnapshot(t, k, gen, "", func(cs []any) {
		r := cs[1].(map[string]any)
		for i := 0; i < n; i++ {
			id := "extra-" + strconv.FormatUint(gen, 10) + "-" + strconv.Itoa(i)
			r["keys"] = append(r["keys"].([]any), map[string]any{"id": id, "sha256": keymat.Hash(id)})
		}
		if edit != nil {
			edit(cs)
		}
	})
}

// resign rewrites the header fields of snap with fn and signs it again
// with signer: a header the store's key really signed.
func resign(snap []byte, signer ed25519.PrivateKey, fn func(h []byte)) []byte {
	out := append([]byte(nil), snap...)
	fn(out[:keysnap.HeaderSize])
	copy(out[160:224], ed25519.Sign(signer, out[:160]))
	return out
}

// A first range that does not carry a header signed by the store's key,
// or whose signed header announces more than max_size, or a size that
// Content-Range contradicts, stops the fetch at once: no further range is
// asked for and nothing is allocated for the size the answer claims.
func TestKeyStoreVerifiesBeforeAllocating(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		good := bigSnapshot(t, k, 1, 60, nil)
		huge := uint64(256 << 20)
		announce := func(h []byte, body uint64) {
			// Keep the section sizes adding up: the consumer section grows.
			le := binary.LittleEndian
			grow := body - le.Uint64(h[56:])
			le.PutUint32(h[40:], le.Uint32(h[40:])+uint32(grow))
			le.PutUint64(h[56:], body)
		}
		forged := append([]byte(nil), good...)
		announce(forged[:keysnap.HeaderSize], huge) // not signed again: the signature fails
		tooLarge := resign(good, testSigner, func(h []byte) { announce(h, huge) })
		for _, tc := range []struct {
			name  string
			first []byte // the first range's bytes
			total uint64 // Content-Range's total
			cause policy.LoadCause
		}{
			{"forged header, 256 MiB announced", forged[:1024], uint64(keysnap.HeaderSize) + huge, policy.CauseBadSignature},
			{"signed header over max_size", tooLarge[:1024], uint64(keysnap.HeaderSize) + huge, policy.CauseTooLarge},
			{"content-range against the signed header", good[:1024], 1 << 30, policy.CauseCorrupt},
			{"not a snapshot", []byte(strings.Repeat("<html>", 200)), 1 << 30, policy.CauseCorrupt},
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := &keyServer{}
				srv.set(good)
				srv.setAnswer(func(w http.ResponseWriter, r *http.Request, _ []byte, etag string) bool {
					w.Header().Set("ETag", etag)
					w.Header().Set("Content-Range", "bytes 0-"+strconv.Itoa(len(tc.first)-1)+"/"+strconv.FormatUint(tc.total, 10))
					w.WriteHeader(http.StatusPartialContent)
					w.Write(tc.first)
					return true
				})
				e := startKeyStoreWith(t, vm, rangedKeyStoreConfig(t, k, func(ks map[string]any) {
					ks["max_size"] = 1 << 20
				}), srv)
				var before uint32
				mem, hasMemory := e.d.(driver.Memory)
				if hasMemory {
					before = mem.MemorySize()
				}
				if n := e.deliverAll(); n != 1 {
					t.Errorf("%d HTTP calls answered, want 1: the fetch goes on after a bad first range", n)
				}
				if n := e.counter(metricname.KeyStoreReject(tc.cause)); n != 1 {
					t.Errorf("%s rejections %d, want 1", tc.cause, n)
				}
				if hasMemory {
					if grew := mem.MemorySize() - before; grew > 4<<20 {
						t.Errorf("linear memory grew by %d bytes for a rejected first range", grew)
					}
				}
				wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 503, "no snapshot")
			})
		}
	})
}

// Ranges of two snapshots are never joined: a later range with another
// ETag (a store that ignores If-Range), or a 200 in the middle of a ranged
// fetch, restarts the fetch from byte 0, counted as restarted, not as a
// corrupt snapshot; a store that keeps changing is given up on after
// MaxRestarts until the next refresh.
func TestKeyStoreRestartsOnAnotherValidator(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(bigSnapshot(t, k, 1, 60, nil))
		e := startKeyStoreWith(t, vm, rangedKeyStoreConfig(t, k, nil), srv)
		e.deliverAll()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "generation 1")

		// The store ignores If-Range and is replaced after the first range.
		snap3 := bigSnapshot(t, k, 3, 60, func(cs []any) {
			cs[0].(map[string]any)["keys"].([]any)[0].(map[string]any)["revoked"] = true
		})
		srv.set(bigSnapshot(t, k, 2, 60, nil))
		srv.hook = func(r *http.Request) {
			r.Header.Del("If-Range")
			if strings.HasPrefix(r.Header.Get("Range"), "bytes=1024-") {
				srv.set(snap3)
				srv.hook = func(r *http.Request) { r.Header.Del("If-Range") }
			}
		}
		e.refresh()
		if g := e.gauge(metricname.KeyStoreGeneration); g != 3 {
			t.Fatalf("generation %d, want 3", g)
		}
		if n := e.counter(metricname.KeyStoreFetch(keyfetch.Restarted)); n != 1 {
			t.Errorf("restarted %d, want 1", n)
		}
		if n := e.counter(metricname.KeyStoreReject(policy.CauseCorrupt)); n != 0 {
			t.Errorf("corrupt %d: parts of two snapshots were joined", n)
		}
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 401, "revoked in generation 3")

		// A store that answers every later range with a whole new body.
		srv.mu.Lock()
		srv.hook = nil
		srv.mu.Unlock()
		gen := uint64(4)
		srv.set(bigSnapshot(t, k, gen, 60, nil))
		srv.setAnswer(func(w http.ResponseWriter, r *http.Request, snap []byte, etag string) bool {
			if !strings.HasPrefix(r.Header.Get("Range"), "bytes=0-") {
				w.Header().Set("ETag", `"changed"`)
				w.Write(snap)
				return true
			}
			return false
		})
		e.refresh()
		if n := e.counter(metricname.KeyStoreFetch(keyfetch.Restarted)); n != 1+keyfetchMaxRestarts {
			t.Errorf("restarted %d, want %d", n, 1+keyfetchMaxRestarts)
		}
		if n := e.counter(metricname.KeyStoreFetch(keyfetch.HTTPError)); n != 1 {
			t.Errorf("http_error %d: the fetcher did not give up", n)
		}
		srv.setAnswer(nil)
		e.refresh()
		if g := e.gauge(metricname.KeyStoreGeneration); g != 4 {
			t.Errorf("generation %d after the store settled, want 4", g)
		}
	})
}

// A 304 to a request that sent no If-None-Match is a failure: there is no
// snapshot it could mean.
func TestKeyStoreNotModifiedWithoutSnapshot(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 1, testSigner, nil))
		srv.setAnswer(func(w http.ResponseWriter, _ *http.Request, _ []byte, _ string) bool {
			w.WriteHeader(http.StatusNotModified)
			return true
		})
		e := startKeyStore(t, vm, k, srv)
		e.deliverAll()
		if n := e.counter(metricname.KeyStoreFetch(keyfetch.NotModified)); n != 0 {
			t.Errorf("not_modified %d without a snapshot", n)
		}
		if n := e.counter(metricname.KeyStoreFetch(keyfetch.Failed)); n != 1 {
			t.Errorf("failed %d, want 1", n)
		}
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 503, "after a 304 out of turn")
	})
}

// A snapshot is bound to its audience: a snapshot built for staging is
// refused by a key store whose audience is prod, and the other way round.
func TestKeyStoreAudience(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(encodeSnapshot(t, k, 1, "staging", nil))
		e := startKeyStoreWith(t, vm, rangedKeyStoreConfig(t, k, func(ks map[string]any) { ks["audience"] = "prod" }), srv)
		e.deliverAll()
		if n := e.counter(metricname.KeyStoreReject(policy.CauseWrongAudience)); n != 1 {
			t.Errorf("wrong_audience %d, want 1", n)
		}
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 503, "staging snapshot in prod")
		srv.set(encodeSnapshot(t, k, 1, "prod", nil))
		e.refresh()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "prod snapshot")
	})
}

// Key ids are unique in a snapshot as in a configuration.
func TestKeyStoreRefusesDuplicateKeyIDs(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		snap, err := keysnap.Encode(&keysnap.Snapshot{Generation: 1, Created: testNow,
			Consumers: []keysnap.Consumer{{ID: "billing", Scopes: []string{"orders:read"}}, {ID: "reader"}},
			Keys: []keysnap.Key{
				{Digest: digestOf(k.billing), Consumer: 0, ID: "same", NotBefore: keysnap.NoLowerBound, NotAfter: keysnap.NoUpperBound},
				{Digest: digestOf(k.reader), Consumer: 1, ID: "same", NotBefore: keysnap.NoLowerBound, NotAfter: keysnap.NoUpperBound},
			}}, testSigner)
		if err != nil {
			t.Fatal(err)
		}
		srv := &keyServer{}
		srv.set(snap)
		e := startKeyStore(t, vm, k, srv)
		e.deliverAll()
		if n := e.counter(metricname.KeyStoreReject(policy.CauseInvalid)); n != 1 {
			t.Errorf("invalid %d, want 1", n)
		}
		if logs := strings.Join(e.logs(logError), "\n"); !strings.Contains(logs, `key id "same"`) {
			t.Errorf("error logs do not name the key id: %s", logs)
		}
	})
}

func digestOf(key string) [32]byte {
	var d [32]byte
	b, _ := hex.DecodeString(keymat.Hash(key))
	copy(d[:], b)
	return d
}

const keyfetchMaxRestarts = keyfetch.MaxRestarts

// Ten configuration pushes under traffic with a key store: the plugin
// started by each push serves the VM's verified snapshot at once (no 503),
// checks it against its own configuration, and revalidates it in the
// background.
func TestKeyStoreConfigPushNoOutage(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(bigSnapshot(t, k, 1, 60, nil))
		e := startKeyStoreWith(t, vm, rangedKeyStoreConfig(t, k, nil), srv)
		e.deliverAll()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "before the pushes")
		for i := 0; i < 10; i++ {
			e.pushConfig(rangedKeyStoreConfig(t, k, func(ks map[string]any) {
				ks["refresh"] = strconv.Itoa(2+i%2) + "s" // another configuration each time
			}))
			for j := 0; j < 3; j++ {
				o := e.do("/v1/orders", [2]string{"x-api-key", k.billing})
				wantStatus(t, o, 200, "push "+strconv.Itoa(i+1)+", request "+strconv.Itoa(j+1))
				if got, _ := header(o.upstream, "x-apiguard-consumer"); got != "billing" {
					t.Fatalf("push %d: consumer %q", i+1, got)
				}
				wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billingRevoked}), 401, "revoked key after a push")
			}
			e.deliverAll() // the background revalidation
		}
		if n := e.counter(metricname.DecisionPrefix + "key_store_unavailable"); n != 0 {
			t.Errorf("%d requests answered 503 key_store_unavailable during the pushes", n)
		}
		if n := e.counter(metricname.KeyStoreFetch(keyfetch.Loaded)); n != 1 {
			t.Errorf("loaded %d times, want 1: the pushes re-fetched the snapshot", n)
		}
		if n := e.counter(metricname.KeyStoreFetch(keyfetch.Unchanged)); n != 10 {
			t.Errorf("unchanged %d, want 10 (one revalidation per push)", n)
		}
	})
}

// A revocation survives configuration pushes and VM reloads: once
// generation 9 was enforced, a store serving generation 3 again is refused
// by every plugin of the proxy, even one in a new VM that has no snapshot
// yet (it keeps answering 503 rather than serve the older keys).
func TestKeyStoreNeverGoesBack(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		revoke := func(cs []any) { cs[0].(map[string]any)["keys"].([]any)[0].(map[string]any)["revoked"] = true }
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 9, testSigner, revoke))
		e := startKeyStore(t, vm, k, srv)
		e.deliverAll()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 401, "revoked in generation 9")

		srv.set(testSnapshot(t, k, 3, testSigner, nil)) // older, validly signed, billing valid
		e.pushConfig(keyStoreConfig(t, k))
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 401, "after a push")
		e.deliverAll()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 401, "after a push and a fetch of generation 3")
		if n := e.counter(metricname.KeyStoreReject(policy.CauseOlderGeneration)); n != 1 {
			t.Errorf("older_generation %d, want 1", n)
		}

		if _, ok := e.d.(driver.Workers); ok {
			// A reloaded VM (FAIL_RELOAD) or a new worker of the same plugin:
			// shared data outlives the VM.
			e2 := e.worker()
			e2.setSourceAddress(testSourceAddress)
			e2.setTime(testNow)
			e2.deliverAll()
			wantStatus(t, e2.do("/v1/orders", [2]string{"x-api-key", k.billing}), 503, "new VM offered generation 3")
			srv.set(testSnapshot(t, k, 10, testSigner, revoke))
			e2.refresh()
			wantStatus(t, e2.do("/v1/orders", [2]string{"x-api-key", k.billing}), 401, "new VM on generation 10")
			wantStatus(t, e2.do("/v1/orders", [2]string{"x-api-key", k.billingFuture}), 401, "not yet valid")
		}
	})
}

// Snapshot consumers carry every per-consumer field: a consumer on the
// gold-daily plan sends x-apiguard-quota: gold-daily, its rate limit
// applies, shadow mode forwards no quota; client-supplied quota and
// identity headers never pass, under any spelling.
func TestKeyStoreConsumersWithQuotasAndLimits(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		plans := func(cs []any) {
			cs[0].(map[string]any)["quota"] = "gold-daily"
			cs[1].(map[string]any)["rate_limit"] = "tight"
		}
		config := func(mode string) []byte {
			return testConfig(t, k, func(cfg map[string]any) {
				delete(cfg, "consumers")
				cfg["mode"] = mode
				cfg["quotas"] = map[string]any{"gold-daily": map[string]any{"requests": 100000, "per": "day"}}
				cfg["rate_limits"].(map[string]any)["tight"] = map[string]any{"requests": 1, "per": "1m", "burst": 2}
				cfg["key_store"] = map[string]any{"cluster": testKeyCluster, "path": "/keys.snap", "refresh": "1s",
					"public_key": base64.StdEncoding.EncodeToString(testSigner.Public().(ed25519.PublicKey))}
			})
		}
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 1, testSigner, plans))
		e := startKeyStoreWith(t, vm, config("enforce"), srv)
		e.deliverAll()
		spoofed := [][2]string{{"x-api-key", k.billing}, {"x_apiguard_quota", "free"}, {"x-apiguard_quota", "free"},
			{"X-Apiguard-Quota", "free"}, {"x_apiguard_consumer", "victim"}}
		o := e.do("/v1/orders", spoofed...)
		wantStatus(t, o, 200, "billing")
		if got, _ := header(o.upstream, "x-apiguard-quota"); got != "gold-daily" || quotaSpellings(o.upstream) != 1 {
			t.Errorf("quota headers upstream %q, want only x-apiguard-quota: gold-daily", o.upstream)
		}
		if _, ok := header(o.upstream, "x_apiguard_consumer"); ok {
			t.Errorf("spoofed consumer header forwarded: %q", o.upstream)
		}
		for i := 0; i < 2; i++ {
			wantStatus(t, e.do("/v1/files/a", [2]string{"x-api-key", k.reader}), 200, "reader within its burst")
		}
		wantStatus(t, e.do("/v1/files/a", [2]string{"x-api-key", k.reader}), 429, "reader over its snapshot rate limit")

		// Shadow mode: the same snapshot, no quota header at all.
		e.pushConfig(config("shadow"))
		o = e.do("/v1/orders", spoofed...)
		wantStatus(t, o, 200, "shadow")
		if n := quotaSpellings(o.upstream); n != 0 {
			t.Errorf("shadow mode forwards %d quota headers: %q", n, o.upstream)
		}
		if got, _ := header(o.upstream, "x-apiguard-consumer"); got != "billing" {
			t.Errorf("shadow consumer %q", got)
		}
	})
}

func quotaSpellings(hs [][2]string) int {
	n := 0
	for _, h := range hs {
		if policy.SameHeaderName(h[0], "x-apiguard-quota") {
			n++
		}
	}
	return n
}
