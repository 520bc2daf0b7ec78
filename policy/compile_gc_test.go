package policy

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestGCHoldNests: the target is set by the first hold and restored by the
// end of the last, whatever order the holds end in.
func TestGCHoldNests(t *testing.T) {
	target := 100
	var calls int
	h := gcHold{percent: -1, set: func(p int) int { calls++; old := target; target = p; return old }}
	a := h.hold()
	b := h.hold()
	if target != -1 {
		t.Fatalf("during two holds the target is %d, want -1", target)
	}
	a()
	if target != -1 {
		t.Fatalf("with one hold left the target is %d, want -1", target)
	}
	c := h.hold()
	b()
	c()
	if target != 100 || calls != 2 {
		t.Fatalf("after the holds the target is %d (%d sets), want 100 (2 sets)", target, calls)
	}
}

// TestCompileRestoresGCPercent: Compile, holding the collector's target as
// in a wasm VM, leaves it as it found it, after a valid configuration and
// after invalid ones (each return of compile).
func TestCompileRestoresGCPercent(t *testing.T) {
	example, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	old := debug.SetGCPercent(37)
	defer debug.SetGCPercent(old)
	defer func(was bool) { holdsGC = was }(holdsGC)
	holdsGC = true
	for _, cfg := range []string{string(example), `{"mode": 3}`, `[]`, `{`} {
		_, _ = Compile([]byte(cfg))
		if p := debug.SetGCPercent(37); p != 37 {
			t.Fatalf("after Compile(%.20q) GOGC is %d, want 37", cfg, p)
		}
	}
	if compileGC.holds != 0 {
		t.Fatalf("%d holds left after Compile", compileGC.holds)
	}
}
