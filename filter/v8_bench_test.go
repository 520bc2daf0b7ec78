package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/wasmvm"
)

// BenchmarkV8Request runs BenchmarkHostRequest's requests through the
// module and the floor plugin in V8, configured as cpp-host configures it
// for Envoy (--no-liftoff), instead of wazero: scripts/v8host.mjs, a timing
// model of the host calls in Node.js (cpphost stays the model the
// behaviour tests run in). The two modules serve blocks of ten requests in
// turns, 400 blocks per case; reported per case: apiguard-us, floor-us
// (medians) and x-floor; with APIGUARD_V8_HOSTTIME set, every host call
// is timed as well and module-x-floor is the ratio of the modules' own
// times, the model host's taken out of both. It skips without node on the PATH, and is not part
// of make bench; docs/performance.md quotes it.
func BenchmarkV8Request(b *testing.B) {
	node, err := exec.LookPath("node")
	if err != nil {
		b.Skipf("no V8 here: node is not on the PATH (%v)", err)
	}
	root, err := wasmvm.RepoRoot(".")
	if err != nil {
		b.Fatal(err)
	}
	cfg, k := benchRequestConfig(b)
	module := filepath.Join(root, "build", "apiguard.wasm")
	if m := os.Getenv("APIGUARD_V8_MODULE"); m != "" {
		module = m // another build of the filter, say one before a change
	}
	type v8Case struct {
		Name    string      `json:"name"`
		Headers [][2]string `json:"headers"`
		Status  int         `json:"status"`
		Path    string      `json:"path"`
	}
	spec := map[string]any{
		"modules":       map[string]string{"apiguard": module, "floor": filepath.Join(root, "build", "fixtures", "floor.wasm")},
		"configuration": string(cfg),
		"properties":    map[string][]byte{"source.address": []byte(testSourceAddress), "request.time": driver.TimeProperty(testNow)},
		"blocks":        400, "block": attributionBlock,
		"hostTime": os.Getenv("APIGUARD_V8_HOSTTIME") != "",
	}
	var cases []v8Case
	for _, c := range benchCases(k) {
		cases = append(cases, v8Case{c.name, c.headers, c.status, c.path})
	}
	spec["cases"] = cases
	data, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	specFile := filepath.Join(b.TempDir(), "spec.json")
	if err := os.WriteFile(specFile, data, 0o600); err != nil {
		b.Fatal(err)
	}
	type result struct {
		Case   string             `json:"case"`
		US     map[string]float64 `json:"us"`
		HostUS map[string]float64 `json:"host_us"`
	}
	got := map[string][]result{}
	for b.Loop() {
		out := runIn(b, root, node, "--no-liftoff", filepath.Join(root, "scripts", "v8host.mjs"), specFile)
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if !bytes.HasPrefix(sc.Bytes(), []byte(`{"case"`)) {
				continue
			}
			var r result
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				b.Fatal(err)
			}
			got[r.Case] = append(got[r.Case], r)
		}
	}
	for _, c := range cases {
		rs := got[c.Name]
		if len(rs) == 0 {
			b.Fatalf("no result for case %s", c.Name)
		}
		b.Run("case="+c.Name, func(b *testing.B) {
			var a, f, ah, fh []float64
			for _, r := range rs {
				a, f = append(a, r.US["apiguard"]), append(f, r.US["floor"])
				ah, fh = append(ah, r.HostUS["apiguard"]), append(fh, r.HostUS["floor"])
			}
			for b.Loop() {
			}
			b.ReportMetric(median(a), "apiguard-us")
			b.ReportMetric(median(f), "floor-us")
			b.ReportMetric(median(a)/median(f), "x-floor")
			if spec["hostTime"] == true {
				// The modules' own time, the model host's taken out.
				b.ReportMetric(median(ah), "apiguard-host-us")
				b.ReportMetric(median(fh), "floor-host-us")
				b.ReportMetric((median(a)-median(ah))/(median(f)-median(fh)), "module-x-floor")
			}
		})
	}
}
