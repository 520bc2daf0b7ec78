package main

import (
	"strings"
	"testing"
)

// BenchmarkNativeRequest runs the requests of BenchmarkWasmRequest through
// the filter compiled natively, in the SDK's emulator: the filter's own Go
// code (decision, decision log line, filter state) without the wasm
// runtime, for comparing changes of that code (go test -bench, interleaved
// with the code before). The emulator's own work is in every figure. The
// modes: enforce; enforce with log_allowed (every request writes a log
// line); shadow (denials forwarded and logged as shadow_deny).
func BenchmarkNativeRequest(b *testing.B) {
	quietEmulator(b)
	cfg, k := benchRequestConfig(b)
	modes := []struct{ name, set string }{
		{"enforce", ""},
		{"log-allowed", `"log_allowed":true,`},
		{"shadow", `"mode":"shadow",`},
	}
	for _, m := range modes {
		e := startEmulated(b, newVMContext(), []byte(strings.Replace(string(cfg), "{", "{"+m.set, 1)))
		for _, c := range benchCases(k) {
			b.Run("mode="+m.name+"/case="+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					e.request(c.headers)
				}
			})
		}
		e.d.Close()
	}
}
