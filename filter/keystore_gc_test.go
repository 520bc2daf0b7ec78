package main

import (
	"runtime/debug"
	"testing"
)

// TestReloadGCPercent: the collector runs at reloadGCPercent while any key
// store of the VM reloads, and at the earlier target once none does.
func TestReloadGCPercent(t *testing.T) {
	gcPercent := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
	before := gcPercent()
	a, b := &keyStore{}, &keyStore{}
	trackReload(a, true)
	trackReload(b, true)
	if got := gcPercent(); got != reloadGCPercent {
		t.Fatalf("during two reloads GOGC is %d, want %d", got, reloadGCPercent)
	}
	trackReload(a, false)
	if got := gcPercent(); got != reloadGCPercent {
		t.Fatalf("with one reload left GOGC is %d, want %d", got, reloadGCPercent)
	}
	trackReload(b, false)
	trackReload(b, false)
	if got := gcPercent(); got != before {
		t.Fatalf("after the reloads GOGC is %d, want %d", got, before)
	}
}
