//go:build !tinygo

package bridge

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestGCMarkingFollowsCollections checks the flag gcMarking reads against
// the runtime's own collections: false with none running, true at some
// point while collections run on another goroutine, false again after.
func TestGCMarkingFollowsCollections(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	if gcMarking() {
		t.Fatal("gcMarking is true with no collection running")
	}
	// Something to mark, so that a cycle's mark phase lasts.
	keep := make([]*[64]byte, 1<<18)
	for i := range keep {
		keep[i] = new([64]byte)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	seen := false
	for deadline := time.Now().Add(10 * time.Second); !seen && time.Now().Before(deadline); {
		seen = gcMarking()
		runtime.Gosched()
	}
	close(stop)
	<-done
	runtime.KeepAlive(keep)
	if !seen {
		t.Fatal("gcMarking never reported a collection marking")
	}
	if gcMarking() {
		t.Fatal("gcMarking is still true after the collections ended")
	}
}
