package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const attrSample = `cpu: Test CPU
BenchmarkHostAttribution/case=allowed-2  200  1000 ns/op  50.0 us/req  25.0 floor-us  2.00 x-floor  40.0 callbacks-us  10 callbacks-calls  20.0 on-request-us  10.0 decide-us  3.0 sha256-us  1.5 host:proxy_log-us  1 host:proxy_log-calls
BenchmarkHostAttribution/case=allowed-2  200  1000 ns/op  60.0 us/req  25.0 floor-us  2.40 x-floor  44.0 callbacks-us  10 callbacks-calls  22.0 on-request-us  12.0 decide-us  3.0 sha256-us  1.5 host:proxy_log-us  1 host:proxy_log-calls
`

func TestAttributionTable(t *testing.T) {
	res, _, err := parse(strings.NewReader(attrSample))
	if err != nil {
		t.Fatal(err)
	}
	table := attribution(res)
	for _, want := range []string{
		"| µs per request (share of the request) | allowed |",
		"| **request, filter (profiling build, no listeners)** | **55.00** |",
		"| filter / floor | 2.20× |",
		// The request less the callbacks: 55 - 42.
		"| outside the callbacks: cpphost's request driver, wazero's calls into the module | 13.00 (24 %) |",
		"| · · `policy.Decide` | 11.00 (20 %) |",
		"| · · · · of which SHA-256 of the key | 3.00 (5 %) |",
		"| · `proxy_log` | 1.50 ×1 |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if empty, _, _ := parse(strings.NewReader("BenchmarkOther-2 1 5 ns/op\n")); attribution(empty) != "" {
		t.Error("a run without BenchmarkHostAttribution gave a table")
	}
}

func TestWriteAttribution(t *testing.T) {
	path := filepath.Join(t.TempDir(), "performance.md")
	before, after := "# Performance\n\nintro\n\n", "\n\n## Next\n\ntext\n"
	if err := os.WriteFile(path, []byte(before+attrBegin+"\nold table\n"+attrEnd+after), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeAttribution(path, "| new | table |\n", "Test CPU", "2026-12-02"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	s := string(got)
	if !strings.HasPrefix(s, before+attrBegin) || !strings.HasSuffix(s, attrEnd+after) ||
		!strings.Contains(s, "| new | table |") || strings.Contains(s, "old table") || !strings.Contains(s, "2026-12-02 (Test CPU)") {
		t.Errorf("page after writing:\n%s", s)
	}
	if err := writeAttribution(path, "", "", ""); err != nil {
		t.Errorf("no table: %v", err)
	}
	if again, _ := os.ReadFile(path); string(again) != s {
		t.Error("a run without a table changed the page")
	}
	noMarkers := filepath.Join(t.TempDir(), "other.md")
	if err := os.WriteFile(noMarkers, []byte("# Other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeAttribution(noMarkers, "| t |\n", "", ""); err == nil {
		t.Error("a page without markers was accepted")
	}
}
