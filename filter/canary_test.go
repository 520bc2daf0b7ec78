package main

import (
	"regexp"
	"testing"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
)

// TestKeyStoreCanaryFetchIsCancelled: Envoy's configuration canary
// (internal/testing/cpphost canary.go) runs proxy_on_configure, which starts the
// key store's first fetch; Envoy cancels that call with the canary, so the
// worker's own fetch is the one that loads the snapshot, and the worker
// serves. Only cpphost models the canary.
// canary returns the host's configuration canary, or skips the test where
// the host has none (driver.Canary).
func (e *env) canary() driver.Canary {
	e.t.Helper()
	c, ok := e.d.(driver.Canary)
	if !ok {
		e.t.Skip("this host (the SDK's emulator) has no configuration canary; cpphost models it")
	}
	return c
}

func TestKeyStoreCanaryFetchIsCancelled(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		skipUnless[driver.Canary](t, vm, "the configuration canary, which only cpphost models (not the SDK's emulator)")
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 1, testSigner, nil))
		e := startKeyStore(t, vm, k, srv)
		canceled := e.canary().CanceledHTTPCalls()
		if len(canceled) != 1 || canceled[0].Cluster != testKeyCluster {
			t.Fatalf("canary's calls %+v, want the one fetch to %s, cancelled", canceled, testKeyCluster)
		}
		if n := len(e.httpCalls()); n != 1 {
			t.Errorf("%d HTTP calls sent, want the worker's 1", n)
		}
		e.deliverAll()
		wantStatus(t, e.do("/v1/orders", [2]string{"x-api-key", k.billing}), 200, "a key of the snapshot the worker fetched")
	})
}

// TestCanaryCreatesTheBuckets: the canary creates the rate-limit buckets
// in the vm_id's shared data, so the worker finds them all and says "0 new"
// (docs/operations.md). Only cpphost models the canary.
func TestCanaryCreatesTheBuckets(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		skipUnless[driver.Canary](t, vm, "the configuration canary, which only cpphost models (not the SDK's emulator)")
		e := start(t, vm, testConfig(t, newTestKeys(t), nil))
		c := e.canary()
		loaded := regexp.MustCompile(`configuration loaded \(mode \w+, (\d+) rate-limit buckets, (\d+) new,`)
		var canary, worker []string
		for _, l := range c.CanaryLogs() {
			if m := loaded.FindStringSubmatch(l); m != nil {
				canary = m
			}
		}
		for _, l := range e.logs(logInfo) {
			if m := loaded.FindStringSubmatch(l); m != nil {
				worker = m
			}
		}
		if canary == nil || worker == nil {
			t.Fatalf("no configuration loaded line: canary %q, worker %q", canary, worker)
		}
		if canary[2] != canary[1] || canary[1] == "0" || worker[2] != "0" {
			t.Errorf("canary created %s of %s buckets, worker %s of %s; want the canary all, the worker none",
				canary[2], canary[1], worker[2], worker[1])
		}
	})
}
