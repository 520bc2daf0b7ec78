package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/apiguard/apiguard/internal/wasmvm"
)

// goWasmBench is the benchmark of policy's tests that BenchmarkGoWasmFactor
// runs in every runtime: one allowed decision with 100k keys and 1000
// routes, no host call and no allocation, only Go code.
const goWasmBench = "^BenchmarkDecide$/^keys=100000/routes=1000$"

// BenchmarkGoWasmFactor measures what running Go's code as WebAssembly
// costs, apart from any proxy-wasm host: policy's BenchmarkDecide, compiled
// twice by go test -c (natively and for wasip1), runs natively, in wazero
// (the runtime of cpphost and every figure of docs/performance.md) and in
// V8 (Envoy's default runtime, configured as cpp-host configures it, through
// Node.js's WASI when node is on the PATH), in turns, three rounds. Reported: each one's ns/op (the median of
// its rounds) and the ratios. It is not part of make bench (it builds two
// test binaries); docs/performance.md quotes it.
func BenchmarkGoWasmFactor(b *testing.B) {
	root, err := wasmvm.RepoRoot(".")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	native, wasm := filepath.Join(dir, "policy.test"), filepath.Join(dir, "policy.test.wasm")
	goTestC(b, root, native)
	goTestC(b, root, wasm, "GOOS=wasip1", "GOARCH=wasm")
	args := []string{"-test.run=^$", "-test.bench=" + goWasmBench, "-test.benchtime=20000x", "-test.count=1"}
	policyDir := filepath.Join(root, "policy")
	module, err := os.ReadFile(wasm)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	compiled, err := rt.CompileModule(ctx, module)
	if err != nil {
		b.Fatal(err)
	}
	node, nodeErr := exec.LookPath("node")
	if nodeErr != nil {
		b.Logf("no V8 figure: node is not on the PATH (%v)", nodeErr)
	}
	runners := map[string]func() []byte{
		"native": func() []byte { return runIn(b, policyDir, native, args...) },
		"wazero": func() []byte {
			var out bytes.Buffer
			cfg := wazero.NewModuleConfig().WithArgs(append([]string{"policy.test"}, args...)...).WithStdout(&out).WithStderr(&out).
				WithSysNanotime().WithSysWalltime().WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(policyDir, "/"))
			_, err := rt.InstantiateModule(ctx, compiled, cfg)
			if exit, ok := err.(*sys.ExitError); err != nil && (!ok || exit.ExitCode() != 0) {
				b.Fatalf("wazero: %v\n%s", err, out.Bytes())
			}
			return out.Bytes()
		},
	}
	if nodeErr == nil {
		script := filepath.Join(root, "scripts", "wasi-run.mjs")
		// --no-liftoff as cpp-host runs V8 (src/v8/v8.cc at 52a02917: "Disable
		// the Liftoff compiler to force optimized JIT up-front").
		runners["v8"] = func() []byte {
			return runIn(b, policyDir, node, append([]string{"--no-liftoff", script, wasm, policyDir}, args...)...)
		}
	}
	got := map[string][]float64{}
	for b.Loop() {
		for range 3 {
			for _, name := range []string{"native", "wazero", "v8"} {
				if r := runners[name]; r != nil {
					got[name] = append(got[name], nsPerOp(b, name, r()))
				}
			}
		}
	}
	nat, wz := median(got["native"]), median(got["wazero"])
	b.ReportMetric(nat, "native-ns")
	b.ReportMetric(wz, "wazero-ns")
	b.ReportMetric(wz/nat, "wazero-x-native")
	if v := got["v8"]; len(v) > 0 {
		v8 := median(v)
		b.ReportMetric(v8, "v8-ns")
		b.ReportMetric(v8/nat, "v8-x-native")
		b.ReportMetric(wz/v8, "wazero-x-v8")
	}
}

// goTestC compiles policy's tests into out with go test -c, with env added.
func goTestC(b *testing.B, root, out string, env ...string) {
	cmd := exec.Command("go", "test", "-c", "-o", out, "./policy")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go test -c %v: %v\n%s", env, err, msg)
	}
}

// runIn runs a command in dir and returns its output.
func runIn(b *testing.B, dir, name string, args ...string) []byte {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%s: %v\n%s", name, err, out)
	}
	return out
}

// benchLine is a go test benchmark result line's ns/op.
var benchLine = regexp.MustCompile(`(?m)^BenchmarkDecide/\S+\s+\d+\s+([0-9.]+) ns/op`)

// nsPerOp reads the ns/op of the one benchmark line in out.
func nsPerOp(b *testing.B, runtime string, out []byte) float64 {
	m := benchLine.FindSubmatch(out)
	if m == nil {
		b.Fatalf("%s: no benchmark line in\n%s", runtime, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		b.Fatal(err)
	}
	return v
}
