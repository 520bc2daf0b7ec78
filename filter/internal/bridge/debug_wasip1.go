//go:build wasip1 && !tinygo && apiguard_debug

package bridge

import "runtime/metrics"

// debugSamples are read by apiguard_debug_mallocs; package level, so that
// reading them allocates nothing.
var debugSamples = []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/tiny/allocs:objects"}}

// debugMallocs returns how many heap allocations the module has made. It
// exists only in the benchmark build (-tags apiguard_debug, make bench),
// which counts allocations per request from the host.
//
//go:wasmexport apiguard_debug_mallocs
func debugMallocs() uint64 {
	metrics.Read(debugSamples)
	return debugSamples[0].Value.Uint64() + debugSamples[1].Value.Uint64()
}
