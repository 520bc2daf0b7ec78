//go:build wasip1

package policy

import "runtime/debug"

// compileGCPercent is the garbage collector's target while Compile runs
// in a wasm VM (see holdGC).
const compileGCPercent = -1

// holdGC sets the collector's target to compileGCPercent until the
// returned function is called, which restores the target before. Nested
// and interleaved holds (goroutines of one VM switch only where one
// blocks, as in runtime.GC) restore it when the last one ends. A VM has
// one thread, so the counter needs no lock.
func holdGC() (release func()) {
	if gcHolds == 0 {
		gcSaved = debug.SetGCPercent(compileGCPercent)
	}
	gcHolds++
	return releaseGC
}

var (
	gcHolds int
	gcSaved int
)

func releaseGC() {
	gcHolds--
	if gcHolds == 0 {
		debug.SetGCPercent(gcSaved)
	}
}
