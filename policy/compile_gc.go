package policy

import "runtime/debug"

// gcHold sets the garbage collector's target (GOGC) to percent while at
// least one hold is in force, and restores the target before when the last
// one ends: holds nest, and may end in any order.
type gcHold struct {
	percent int
	set     func(int) int // debug.SetGCPercent
	holds   int
	saved   int
}

// hold starts a hold; the caller calls the returned function to end it.
func (h *gcHold) hold() (release func()) {
	if h.holds == 0 {
		h.saved = h.set(h.percent)
	}
	h.holds++
	return h.release
}

func (h *gcHold) release() {
	h.holds--
	if h.holds == 0 {
		h.set(h.saved)
	}
}

// compileGC is held while Compile runs in a wasm VM (compileHoldsGC):
// Compile's garbage is short-lived, and collections while it allocates (the
// collector's worker, assists) were a third of a start of 10k keys. The
// explicit collections (between parse and build from collectAbove, the
// filter's before it serves) still run, so the memory a start leaves is
// that of GOGC 100, whose heap goal is already above what a large Compile
// allocates: twice what is live, which holds the configuration's text.
// A VM has one thread and its goroutines switch only where one blocks
// (runtime.GC), so the hold needs no lock. Natively Compile runs beside
// other goroutines, which the target is also for: it is left alone.
var compileGC = gcHold{percent: -1, set: debug.SetGCPercent}

// holdsGC is whether Compile holds compileGC: compileHoldsGC, which a
// test changes to check the hold natively.
var holdsGC = compileHoldsGC

// holdGC holds compileGC while Compile runs in a wasm VM.
func holdGC() (release func()) {
	if !holdsGC {
		return func() {}
	}
	return compileGC.hold()
}
