//go:build apiguard_nofilterstate

package main

// The benchmark build without filter state (make bench's
// build/fixtures/apiguard-nofilterstate.wasm), never shipped.
func init() { filterStateOn = false }
