//go:build wasip1

package policy

// compileHoldsGC: in a wasm VM, Compile runs without automatic collections
// (compileGC).
const compileHoldsGC = true
