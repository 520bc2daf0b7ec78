package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPatchCurrentToolchain(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(toolchainRoot(t), "src", "runtime", "netpoll_wasip1.go"))
	if err != nil {
		t.Fatal(err)
	}
	patched, err := Patch(src)
	if err != nil {
		t.Fatal(err)
	}
	if patched == nil {
		t.Skip("this toolchain's runtime already handles ENOSYS; no patch needed")
	}
	if !bytes.Contains(patched, []byte("if errno == 52 || errno == 58 {")) {
		t.Fatal("guard not inserted")
	}
	if i, j := bytes.Index(patched, []byte("errno == 52")), bytes.Index(patched, []byte(`throw("poll_oneoff failed")`)); i < 0 || j < i {
		t.Fatal("guard must come before the throw")
	}
}

func TestPatchRefusesUnknownShape(t *testing.T) {
	if _, err := Patch([]byte("package runtime\n")); err == nil {
		t.Fatal("want an error for a runtime without the expected check")
	}
}

func TestPatchSkipsFixedRuntime(t *testing.T) {
	p, err := Patch([]byte("package runtime\nconst _ENOSYS = 52\n"))
	if err != nil || p != nil {
		t.Fatalf("got %q, %v; want nil, nil", p, err)
	}
}

func TestRunWritesOverlay(t *testing.T) {
	out := t.TempDir()
	if err := run(toolchainRoot(t), out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(out, "overlay.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"netpoll_wasip1.go", "os_wasip1.go", "mgcmark.go", "mgcscavenge.go"} {
		if !bytes.Contains(data, []byte(f)) {
			t.Errorf("overlay does not replace %s:\n%s", f, data)
		}
	}
}

func TestPatchUsleepCurrentToolchain(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(toolchainRoot(t), "src", "runtime", "os_wasip1.go"))
	if err != nil {
		t.Fatal(err)
	}
	patched, err := PatchUsleep(src)
	if err != nil {
		t.Fatal(err)
	}
	if patched == nil {
		t.Skip("this toolchain's runtime already handles ENOSYS; no patch needed")
	}
	body := funcBody(t, patched, "usleep")
	if n := strings.Count(body, "poll_oneoff("); n != 1 {
		t.Errorf("usleep calls poll_oneoff %d times, want once:\n%s", n, body)
	}
	guard := strings.Index(body, "errno == 52 || errno == 58")
	throw := strings.Index(body, `throw("wasi_snapshot_preview1.poll_oneoff")`)
	if guard < 0 || throw < guard {
		t.Errorf("usleep must test ENOSYS and ENOTSUP before it throws:\n%s", body)
	}
	if !strings.Contains(body, "errno != 0") {
		t.Errorf("usleep no longer throws on other errors:\n%s", body)
	}
	// The rest of the file is unchanged.
	if got := bytes.Replace(patched, []byte(body), nil, 1); !bytes.Equal(got, bytes.Replace(src, []byte(funcBody(t, src, "usleep")), nil, 1)) {
		t.Error("the patch changed os_wasip1.go outside usleep")
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "os_wasip1.go", patched, 0); err != nil {
		t.Errorf("patched os_wasip1.go does not parse: %v", err)
	}
}

// funcBody returns the text of the top-level function name in src.
func funcBody(t *testing.T, src []byte, name string) string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == name {
			return string(src[fset.Position(fd.Pos()).Offset:fset.Position(fd.End()).Offset])
		}
	}
	t.Fatalf("no func %s", name)
	return ""
}

func TestPatchUsleepRefusesUnknownShape(t *testing.T) {
	// A usleep that checks poll_oneoff differently: the patch must not
	// guess.
	src := []byte("package runtime\nfunc usleep(usec uint32) {\n\tif e := poll_oneoff(&in, &out, 1, &nevents); e != 0 {\n\t\tthrow(\"x\")\n\t}\n}\n")
	if _, err := PatchUsleep(src); err == nil || !strings.Contains(err.Error(), "usleep") {
		t.Fatalf("err = %v, want a refusal naming usleep", err)
	}
}

func TestPatchUsleepSkipsFixedRuntime(t *testing.T) {
	p, err := PatchUsleep([]byte("package runtime\nconst _ENOSYS = 52\n"))
	if err != nil || p != nil {
		t.Fatalf("got %q, %v; want nil, nil", p, err)
	}
}

// TestRunRefusesChangedRuntime: a toolchain whose runtime changed shape
// fails the build (make build runs pollpatch first) instead of shipping an
// unpatched filter.
func TestRunRefusesChangedRuntime(t *testing.T) {
	goroot := t.TempDir()
	rt := filepath.Join(goroot, "src", "runtime")
	if err := os.MkdirAll(rt, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"netpoll_wasip1.go", "os_wasip1.go"} {
		src, err := os.ReadFile(filepath.Join(toolchainRoot(t), "src", "runtime", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "os_wasip1.go" {
			src = bytes.Replace(src, []byte(`throw("wasi_snapshot_preview1.poll_oneoff")`), []byte(`throw("poll_oneoff")`), 1)
		}
		if err := os.WriteFile(filepath.Join(rt, f), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := run(goroot, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "os_wasip1.go") {
		t.Fatalf("run = %v, want a refusal naming os_wasip1.go", err)
	}
}

// toolchainRoot returns the GOROOT of the toolchain running the test.
func toolchainRoot(t *testing.T) string {
	t.Helper()
	root, err := goEnvGOROOT()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestCollectorPatchesCurrentToolchain applies the collector's two patches
// to this toolchain's runtime: each constant is found once and changed, and
// nothing else in the file is.
func TestCollectorPatchesCurrentToolchain(t *testing.T) {
	for _, c := range []struct {
		file, from, to string
		patch          func([]byte) ([]byte, error)
	}{
		{"mgcmark.go", drainCheckAnchor, "\tdrainCheckThreshold = 2000\n", PatchDrainCheck},
		{"mgcscavenge.go", scavWorkAnchor, "\tminScavWorkTime = 50e3\n", PatchScavenger},
	} {
		src, err := os.ReadFile(filepath.Join(toolchainRoot(t), "src", "runtime", c.file))
		if err != nil {
			t.Fatal(err)
		}
		patched, err := c.patch(src)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if bytes.Contains(patched, []byte(c.from)) || !bytes.Contains(patched, []byte(c.to)) {
			t.Errorf("%s: %q not replaced by %q", c.file, c.from, c.to)
		}
		i := bytes.Index(src, []byte(c.from))
		if !bytes.Equal(patched[:i], src[:i]) || !bytes.HasSuffix(patched, src[i+len(c.from):]) {
			t.Errorf("%s: the patch changed more than the constant", c.file)
		}
		if _, err := c.patch([]byte("package runtime\n")); err == nil {
			t.Errorf("%s: want an error for a runtime without the constant", c.file)
		}
	}
}
