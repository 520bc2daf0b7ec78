package main

import (
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/vmtest"
)

// TestKeyStoreCanaryFetchIsCancelled: Envoy's configuration canary
// (internal/cpphost canary.go) runs proxy_on_configure, which starts the
// key store's first fetch; Envoy cancels that call with the canary, so the
// worker's own fetch is the one that loads the snapshot, and the worker
// serves. Only cpphost models the canary.
func TestKeyStoreCanaryFetchIsCancelled(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		if _, ok := vm.(*vmtest.HostVM); !ok {
			t.Skip("the SDK's emulator has no configuration canary")
		}
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 1, testSigner, nil))
		e := startKeyStore(t, vm, k, srv)
		canceled := e.cpp.CanceledHTTPCalls()
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
