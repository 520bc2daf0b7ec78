//go:build !wasip1

package policy

// holdGC does nothing outside a wasm VM: natively, Compile runs beside
// other goroutines, which the collector's target is also for.
func holdGC() (release func()) { return func() {} }
