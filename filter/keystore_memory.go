package main

import (
	"math"
	"runtime"
	"runtime/debug"

	"github.com/apiguard/apiguard/policy/keyfetch"
)

// Memory through a reload. A wasm VM never returns linear memory, so its
// size is the peak of the Go heap, and with the default GOGC the heap may
// grow to twice what is live before a collection. A reload holds two
// snapshots at the swap (the one serving and the one loading), so left
// alone its peak is about twice the first load's. While a newer snapshot
// is fetched in ranges and loaded over an older one (Fetcher.Busy), and
// while a configuration push binds the VM's snapshot, the key store sets a
// soft memory limit (runtime/debug.SetMemoryLimit) of reloadMemoryFactor
// times what the Go runtime held after the VM's first load: the collector
// then runs as often as it must to stay near it, trading CPU on the load's
// own callbacks for memory. The limit is soft: when what is live exceeds
// it (two large snapshots), the heap grows past it rather than fail, and
// the collector's CPU is capped by the runtime. It is lifted when the
// fetcher is idle again. A lower GOGC instead was measured worse (make
// bench, BenchmarkKeyStoreLoad).
const reloadMemoryFactor = 1.5

// memoryGuard sets and lifts the reload's memory limit.
type memoryGuard struct {
	first   uint64 // Go's total memory after the first load, 0 before
	limited bool
}

// totalMemory is the memory the Go runtime has obtained from the host (for
// a wasm VM, the part of its linear memory the heap and the runtime use).
// ReadMemStats stops the world, which in a VM's single thread costs no
// more than reading the counters; it runs once, after the first load.
func totalMemory() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Sys
}

// limit sets the reload's memory limit, once a first load set its measure.
func (g *memoryGuard) limit() {
	if g.first == 0 || g.limited {
		return
	}
	g.limited = true
	debug.SetMemoryLimit(int64(float64(g.first) * reloadMemoryFactor))
}

// after adjusts the limit to the fetcher's state after a step: it records
// the first load's memory, sets the limit when a newer snapshot starts to
// load over the one in use, and lifts it once the fetcher is idle again.
func (g *memoryGuard) after(f *keyfetch.Fetcher, swapped bool) {
	busy := f.Busy()
	if swapped && g.first == 0 {
		g.first = totalMemory()
	}
	if busy && f.Loaded() {
		g.limit()
	}
	if g.limited && !busy {
		g.limited = false
		debug.SetMemoryLimit(math.MaxInt64)
	}
}
