package main

import "runtime/debug"

// reloadGCPercent is the collector's target (GOGC) while a key store loads
// a new snapshot beside the one in use. At Go's default (100) the heap may
// grow to twice what is live before a collection: with two snapshots live,
// that is room for four, and a WebAssembly VM never gives memory back. At
// 5 the collector runs each time the heap grows a twentieth; a reload's
// collections are cheap, since a snapshot is a few large byte slices
// without pointers, which the collector does not scan. Between reloads the
// default applies again: one snapshot's worth of headroom, and no extra
// collections on the request path.
const reloadGCPercent = 5

// reloading holds the key stores of this VM that are loading a snapshot
// while one is in use; the collector runs at reloadGCPercent while it is
// not empty. The Go module is one VM: package state is VM state.
var (
	reloading      = map[*keyStore]struct{}{}
	savedGCPercent = -1 // the target before the first reload began; -1 when none runs
)

// trackReload records whether k is reloading, and sets the collector's
// target when the first reload of the VM begins or the last one ends.
func trackReload(k *keyStore, now bool) {
	if _, was := reloading[k]; was == now {
		return
	}
	if now {
		reloading[k] = struct{}{}
	} else {
		delete(reloading, k)
	}
	switch {
	case len(reloading) > 0 && savedGCPercent < 0:
		savedGCPercent = debug.SetGCPercent(reloadGCPercent)
	case len(reloading) == 0 && savedGCPercent >= 0:
		debug.SetGCPercent(savedGCPercent)
		savedGCPercent = -1
	}
}
