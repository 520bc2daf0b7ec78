package cpphost

import (
	"context"
	"testing"
)

// TestRuntimeGoroutinesRunBetweenCallbacks checks what the bridge's
// yieldToRuntime provides: a goroutine of a Go-built module runs between the
// host's callbacks (at every 32nd deleted context). A wasip1 reactor returns
// to the host without scheduling other goroutines, so without the yield the
// fixture's goroutine never runs,
// and neither does the garbage collector's mark worker, whose collections
// then never complete (TestGarbageCollectionKeepsUp in filter).
func TestRuntimeGoroutinesRunBetweenCallbacks(t *testing.T) {
	h, err := New(context.Background(), fixture(t, "timer-patched.wasm"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	vm, err := h.NewVM([]byte("background"))
	if err != nil {
		t.Fatal(err)
	}
	const requests, yieldEvery = 320, 32
	for range requests {
		if _, err := vm.Request([][2]string{{":method", "GET"}, {":path", "/"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Each request hands the goroutine one token; it runs when the bridge
	// yields and counts a wakeup.
	if n := h.Counter("fixture.background_wakeups"); n < requests/yieldEvery {
		t.Errorf("the module's goroutine ran %d times in %d requests, want at least %d", n, requests, requests/yieldEvery)
	}
}
