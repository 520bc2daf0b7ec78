package main

import (
	"strings"
	"testing"
)

const newKeySample = `cpu: Test CPU
BenchmarkHostRequest/plugin=floor/case=allowed-2  3000  20000 ns/op  20.0 us/req
BenchmarkHostRequest/plugin=apiguard/case=allowed-2  3000  28000 ns/op  0 allocs/req  28.0 us/req  1.40 x-floor
BenchmarkHostRequest/plugin=floor/case=401-2  3000  20000 ns/op  20.0 us/req
BenchmarkHostRequest/plugin=apiguard/case=401-2  3000  22000 ns/op  0 allocs/req  22.0 us/req  1.10 x-floor
BenchmarkHostRequest/plugin=apiguard/case=401-new-key-2  3000  26000 ns/op  26.0 us/req  1.30 x-floor
BenchmarkHostRequest/plugin=apiguard/case=401-new-key-2  3000  28000 ns/op  28.0 us/req  1.50 x-floor
`

// TestNewKey401 checks that the 401 with a new key in every request is a
// figure of its own, counts among the denials, and has its row and target;
// and that 0 allocations shows as a figure.
func TestNewKey401(t *testing.T) {
	res, cpu, err := parse(strings.NewReader(newKeySample))
	if err != nil {
		t.Fatal(err)
	}
	h := headline(res)
	if h.DeniedRatio401 != 1.1 || h.DeniedRatio401NewKey != 1.4 || h.DeniedRatioMax != 1.4 {
		t.Errorf("401 %v, new key %v, max %v; want 1.1, 1.4 (the median of two runs), 1.4", h.DeniedRatio401, h.DeniedRatio401NewKey, h.DeniedRatioMax)
	}
	md := report(res, cpu)
	for _, want := range []string{
		"| 401, a new unknown key every request | 27.00 | – | 1.40× | – |",
		"| 401, a new unknown key every request / floor | `denied_ratio_401_new_key` | 1.40× | ≤ 1.50× ✅",
		// No allocation is a measured figure, not a missing one.
		"| allocations per allowed request | `allocs_allowed` | 0 | ≤ 2.00 ✅",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
