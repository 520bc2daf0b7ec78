package wasmhost

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apiguard/apiguard/internal/wasmvm"
)

// TestRuntimeGoroutinesRunBetweenCallbacks checks what the bridge's
// yieldToRuntime provides: a goroutine of a Go-built module runs between the
// host's callbacks. A wasip1 reactor returns to the host without scheduling
// other goroutines, so without the yield the fixture's goroutine never runs,
// and neither does the garbage collector's mark worker, whose collections
// then never complete (TestGarbageCollectionKeepsUp in filter).
func TestRuntimeGoroutinesRunBetweenCallbacks(t *testing.T) {
	root, err := wasmvm.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(filepath.Join(root, "build", "fixtures", "timer-patched.wasm"))
	if err != nil {
		t.Fatalf("%v: run make test (it builds the fixtures)", err)
	}
	h, err := New(context.Background(), wasm, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	vm, err := h.NewVM([]byte("background"))
	if err != nil {
		t.Fatal(err)
	}
	const requests = 100
	for range requests {
		if _, err := vm.Request([][2]string{{":method", "GET"}, {":path", "/"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Each request hands the goroutine one token; it runs when the stream
	// ends and counts it.
	if n := h.Counter("fixture.background_wakeups"); n != requests {
		t.Errorf("the module's goroutine ran %d times in %d requests, want %d", n, requests, requests)
	}
}
