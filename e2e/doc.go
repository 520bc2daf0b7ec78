// Package e2e runs apiguard's contract against a real Envoy.
//
// The tests start an echo upstream, render the repository's envoy.yaml with
// free ports and an absolute path to build/apiguard.wasm, start Envoy with
// two worker threads and check, over real HTTP, what a client and the
// upstream see: every denial with its status, headers and problem+json
// body; credentials stripped and identity headers added; spoofed identity
// dropped; pagination rejected or clamped; path tricks refused; the rate
// limit held across both workers; the counters on /stats/prometheus; a
// broken configuration refused at startup; and, in TestGCHeavyLoad, 30k
// requests through a 20k-consumer configuration (load.go) with no 503, no
// wrong decision and no VM failure in Envoy's log, the load under which a
// Go filter whose garbage collector calls poll_oneoff inside
// proxy_on_memory_allocate traps in Envoy 1.33–1.38.
//
// Envoy is found through $ENVOY_BIN or PATH and must be at least
// MinEnvoyVersion. Without it every test that needs it is skipped with the
// reason and how to install Envoy; the helpers' own tests still run. The
// .wasm is not built here: run `make build` first (or `make e2e`).
package e2e
