package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// get sends a request to h and returns the response.
func get(t *testing.T, h http.Handler, method, path string, headers ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSnapshotHandler(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.snap")
	h := snapshotHandler(file, "/keys.snap")

	if res := get(t, h, "GET", "/keys.snap"); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before the file exists: %d, want 503", res.StatusCode)
	}
	if err := os.WriteFile(file, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := get(t, h, "GET", "/keys.snap")
	etag := res.Header.Get("ETag")
	if res.StatusCode != http.StatusOK || body(t, res) != "0123456789" || etag == "" {
		t.Fatalf("GET: %d, ETag %q", res.StatusCode, etag)
	}
	if res := get(t, h, "GET", "/keys.snap", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the current ETag: %d, want 304", res.StatusCode)
	}
	res = get(t, h, "GET", "/keys.snap", "Range", "bytes=2-5", "If-Range", etag)
	if got := body(t, res); res.StatusCode != http.StatusPartialContent || got != "2345" {
		t.Errorf("Range bytes=2-5: %d %q, want 206 \"2345\"", res.StatusCode, got)
	}

	// A new snapshot renamed into place is served at once, under a new ETag;
	// a range request naming the old ETag gets the whole new file.
	if err := os.WriteFile(file, []byte("abcdefghij"), 0o644); err != nil {
		t.Fatal(err)
	}
	res = get(t, h, "GET", "/keys.snap", "Range", "bytes=2-5", "If-Range", etag)
	if got := body(t, res); res.StatusCode != http.StatusOK || got != "abcdefghij" || res.Header.Get("ETag") == etag {
		t.Errorf("If-Range with a stale ETag: %d %q, ETag %q; want 200 with the new file and a new ETag", res.StatusCode, got, res.Header.Get("ETag"))
	}

	if res := get(t, h, "GET", "/other"); res.StatusCode != http.StatusNotFound {
		t.Errorf("another path: %d, want 404", res.StatusCode)
	}
	if res := get(t, h, "POST", "/keys.snap"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", res.StatusCode)
	}
}

// TestServeScript runs examples/key-store/serve.sh as a user would (on a
// free port) and fetches the snapshot it builds and serves.
func TestServeScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed: serve.sh cannot run")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../serve.sh")
	cmd.Env = append(os.Environ(), "KEYSTORE_LISTEN="+addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	logFile := filepath.Join(t.TempDir(), "serve.log")
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	})
	logs := func() string {
		b, _ := os.ReadFile(logFile)
		return string(b)
	}

	url := "http://" + addr + "/keys.snap"
	var res *http.Response
	for {
		res, err = http.Get(url)
		if err == nil {
			break
		}
		var op *net.OpError
		if !errors.As(err, &op) || ctx.Err() != nil {
			t.Fatalf("serve.sh did not serve %s: %v\n%s", url, err, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	snap := body(t, res)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(snap, "APGKSNAP") || res.Header.Get("ETag") == "" {
		t.Fatalf("GET %s: %d, %d bytes starting %q, ETag %q\n%s", url, res.StatusCode, len(snap), snap[:min(8, len(snap))], res.Header.Get("ETag"), logs())
	}
	// The served file is the one serve.sh built.
	built, err := os.ReadFile("../../../build/key-store/keys.snap")
	if err != nil || string(built) != snap {
		t.Errorf("the served snapshot is not build/key-store/keys.snap (%v)", err)
	}
}
