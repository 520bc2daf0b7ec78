package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
)

// A key-store consumer's bucket is created by its first request and then
// only taken from: neither a new generation swapped in, nor a
// configuration push, nor another worker of the same plugin refills it.
func TestKeyStoreBucketSurvivesSwapAndPush(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e, srv, config := startTightKeyStore(t, vm, k, 3)
		reader := [2]string{"x-api-key", k.reader}
		wantStatus(t, e.do("/v1/files/a", reader), 200, "reader's first request, generation 1")

		srv.set(testSnapshot(t, k, 2, testSigner, tightReader))
		e.refresh()
		wantStatus(t, e.do("/v1/files/a", reader), 200, "reader's second request, generation 2")

		e.pushConfig(config)
		e.deliverAll()
		wantStatus(t, e.do("/v1/files/a", reader), 200, "reader's third request, after a push")
		wantStatus(t, e.do("/v1/files/a", reader), 429, "reader's fourth request: the burst is spent")
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "billing, a bucket of its own")
	})
}

// A second worker of the same plugin takes from the buckets the first one
// created; its start and its load of the snapshot refill none of them.
func TestKeyStoreBucketSharedByWorkers(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		skipUnless[driver.Workers](t, vm, "two worker VMs over one shared data: the SDK's emulator runs one VM per process, cpphost two")
		k := newTestKeys(t)
		e, _, _ := startTightKeyStore(t, vm, k, 2)
		reader := [2]string{"x-api-key", k.reader}
		wantStatus(t, e.do("/v1/files/a", reader), 200, "first worker, reader's first request")

		e2 := e.worker()
		e2.setSourceAddress(testSourceAddress)
		e2.setTime(testNow)
		e2.deliverAll()
		wantStatus(t, e2.do("/v1/files/a", reader), 200, "second worker, reader's second request")
		wantStatus(t, e2.do("/v1/files/a", reader), 429, "second worker: the burst is spent")
		wantStatus(t, e.do("/v1/files/a", reader), 429, "first worker: the burst is spent")
	})
}

// startTightKeyStore starts a key store whose snapshot (generation 1,
// loaded) puts the reader under rate limit "tight": one request an hour
// after a burst of burst.
func startTightKeyStore(t *testing.T, vm vmtest.Runner, k testKeys, burst int) (*env, *keyServer, []byte) {
	t.Helper()
	config := testConfig(t, k, func(cfg map[string]any) {
		delete(cfg, "consumers")
		cfg["rate_limits"].(map[string]any)["tight"] = map[string]any{"requests": 1, "per": "1h", "burst": burst}
		cfg["key_store"] = map[string]any{"cluster": testKeyCluster, "path": "/keys.snap", "refresh": "1s",
			"public_key": base64.StdEncoding.EncodeToString(testSigner.Public().(ed25519.PublicKey))}
	})
	srv := &keyServer{}
	srv.set(testSnapshot(t, k, 1, testSigner, tightReader))
	e := startKeyStoreWith(t, vm, config, srv)
	e.deliverAll()
	return e, srv, config
}

// tightReader puts the reader (the second consumer) under "tight".
func tightReader(cs []any) { cs[1].(map[string]any)["rate_limit"] = "tight" }
