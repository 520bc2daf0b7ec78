//go:build !tinygo

package bridge

import _ "unsafe" // go:linkname

// writeBarrier is the runtime's write-barrier flag, which is set exactly
// while a collection marks (runtime.setGCPhase: the mark and mark
// termination phases). The runtime publishes it for linkname ("Do not
// remove or change the type signature", go.dev/issue/67401), so reading it
// needs no patched runtime.
//
//go:linkname writeBarrier runtime.writeBarrier
var writeBarrier struct {
	enabled bool
	pad     [3]byte
	alignme uint64
}

// gcMarking reports whether a garbage collection is marking: one load, cheap
// enough for every callback (proxy_on_delete yields to the mark worker
// while it is true).
func gcMarking() bool { return writeBarrier.enabled }
