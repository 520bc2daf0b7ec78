//go:build !wasip1

package policy

// compileHoldsGC: natively, Compile leaves the collector's target alone
// (compileGC).
const compileHoldsGC = false
