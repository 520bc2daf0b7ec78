package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestPatchCurrentToolchain(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "runtime", "netpoll_wasip1.go"))
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
	if err := run(runtime.GOROOT(), out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(out, "overlay.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("netpoll_wasip1.go")) {
		t.Fatalf("overlay does not replace netpoll_wasip1.go:\n%s", data)
	}
}
