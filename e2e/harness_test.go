package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/apiguard/apiguard/internal/configcheck"
	"github.com/apiguard/apiguard/internal/testing/syncbuf"
)

// Repository files the suite reads, relative to this directory.
var (
	repoRoot      = ".."
	envoyYAML     = filepath.Join(repoRoot, "envoy.yaml")
	exampleConfig = filepath.Join(repoRoot, "examples", "config.json")
	demoKeysFile  = filepath.Join(repoRoot, "examples", "demo-keys.txt")
	wasmFile      = filepath.Join(repoRoot, configcheck.DefaultWasmPath)
)

// Bounds on waiting for Envoy.
const (
	startTimeout = 60 * time.Second // V8 compiles the module at startup
	exitTimeout  = 60 * time.Second
	httpTimeout  = 10 * time.Second
)

// needEnvoy returns the Envoy binary, skipping the test when there is none
// and failing it when there is one but no .wasm to load.
func needEnvoy(t *testing.T) string {
	t.Helper()
	bin, v, err := FindEnvoy(context.Background())
	if errors.Is(err, ErrNoEnvoy) {
		t.Skipf("skipping real-Envoy test: %v. %s", err, HowToGetEnvoy)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(wasmFile); err != nil {
		t.Fatalf("Envoy %s found at %s, but the filter module is missing: run make build (%v)", v, bin, err)
	}
	return bin
}

// echoed is what the echo upstream received, as it reports it.
type echoed struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Headers map[string][]string `json:"headers"` // lower-case names
}

// header returns the values of a header the upstream received, joined.
func (e echoed) header(name string) (string, bool) {
	v, ok := e.Headers[strings.ToLower(name)]
	return strings.Join(v, ","), ok
}

// startEcho starts the upstream: it answers every request with 200 and the
// method, request target and headers it received, as JSON.
func startEcho(t *testing.T) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := echoed{Method: r.Method, Path: r.RequestURI, Headers: map[string][]string{}}
		for k, v := range r.Header {
			e.Headers[strings.ToLower(k)] = v
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

// envoyProc is one running Envoy.
type envoyProc struct {
	cmd    *exec.Cmd
	log    *syncbuf.Buffer
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
	admin  string        // host:port of the admin interface
	listen string        // host:port of the listener
}

// hotRestartOff keeps parallel Envoys from sharing (and needing) the
// hot-restart shared memory, which some sandboxes do not provide.
const hotRestartOff = "--disable-hot-restart"

// renderConfig writes envoy.yaml, rendered with the upstream port, free
// listener and admin ports, the absolute .wasm path and, when not nil, a
// replacement plugin configuration, into a temporary directory. Unless
// pluginConfig is meant to be broken (checkValid false) the result must
// pass configcheck.
func renderConfig(t *testing.T, upstreamPort int, pluginConfig []byte, checkValid bool) string {
	t.Helper()
	shipped, err := os.ReadFile(envoyYAML)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := filepath.Abs(wasmFile)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(shipped, RenderOptions{UpstreamPort: upstreamPort, WasmPath: wasm, PluginConfig: pluginConfig})
	if err != nil {
		t.Fatalf("render %s: %v", envoyYAML, err)
	}
	if checkValid {
		if probs := configcheck.Errors(configcheck.ValidateEnvoyYAML(out, configcheck.EnvoyOptions{WasmPath: wasm})); len(probs) > 0 {
			t.Fatalf("rendered envoy.yaml is invalid: %v", probs)
		}
	}
	path := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// launch starts Envoy on a configuration with two workers, without hot
// restart, flushing its access log every 100 ms (the default, 10 s, would
// outlast stop's grace period). It does not wait for readiness. Envoy's output goes into the
// test log if the test fails, and the process is stopped at cleanup.
func launch(t *testing.T, bin, config string, extra ...string) *envoyProc {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{
		"-c", config,
		"--concurrency", "2",
		hotRestartOff,
		"--file-flush-interval-msec", "100",
		"--admin-address-path", filepath.Join(dir, "admin-address"),
		"--log-level", "info",
	}, extra...)
	e := &envoyProc{log: &syncbuf.Buffer{}, exited: make(chan struct{})}
	e.cmd = exec.Command(bin, args...)
	e.cmd.Dir = dir
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	t.Logf("starting %s %s", bin, strings.Join(args, " "))
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		e.err = e.cmd.Wait()
		close(e.exited)
	}()
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("Envoy output:\n%s", e.log)
		}
	})
	return e
}

// stop asks Envoy to exit (SIGINT), kills it if it has not after 10s, and
// waits for it. Its output is complete once stop returns.
func (e *envoyProc) stop() {
	select {
	case <-e.exited:
		return
	default:
	}
	e.cmd.Process.Signal(os.Interrupt)
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		e.cmd.Process.Kill()
		<-e.exited
	}
}

// startEnvoy launches Envoy and waits until it is ready and its listener
// address is known.
func startEnvoy(t *testing.T, bin, config string) *envoyProc {
	t.Helper()
	e := launch(t, bin, config)
	addrFile := filepath.Join(e.cmd.Dir, "admin-address")
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-e.exited:
			t.Fatalf("Envoy exited before it was ready: %v", e.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Envoy not ready after %v", startTimeout)
		}
		if e.admin == "" {
			if b, err := os.ReadFile(addrFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
				e.admin = string(bytes.TrimSpace(b))
			}
		}
		if e.admin != "" {
			if code, body, err := e.adminGet("/ready"); err == nil && code == http.StatusOK {
				t.Logf("Envoy ready: %s", strings.TrimSpace(body))
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, body, err := e.adminGet("/listeners?format=json")
	if err != nil || code != http.StatusOK {
		t.Fatalf("admin /listeners: %d %v", code, err)
	}
	var ls adminv3.Listeners
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(body), &ls); err != nil {
		t.Fatalf("admin /listeners: %v\n%s", err, body)
	}
	if len(ls.GetListenerStatuses()) != 1 {
		t.Fatalf("admin /listeners: want one listener, got %s", body)
	}
	sa := ls.GetListenerStatuses()[0].GetLocalAddress().GetSocketAddress()
	e.listen = net.JoinHostPort(sa.GetAddress(), fmt.Sprint(sa.GetPortValue()))
	return e
}

var adminClient = &http.Client{Timeout: httpTimeout}

// adminGet fetches a path from the admin interface.
func (e *envoyProc) adminGet(path string) (int, string, error) {
	resp, err := adminClient.Get("http://" + e.admin + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, string(b), err
}

// waitExit waits for Envoy to exit on its own and returns its status.
func (e *envoyProc) waitExit(d time.Duration) (error, bool) {
	select {
	case <-e.exited:
		return e.err, true
	case <-time.After(d):
		return nil, false
	}
}

// response is a response as the client saw it.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// raw sends one HTTP/1.1 request with exactly the given request target
// (no client-side cleaning or escaping) over a new connection to the
// listener.
func (e *envoyProc) raw(t *testing.T, method, target string, headers map[string]string) response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.listen, httpTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(httpTimeout))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: apiguard.test\r\nConnection: close\r\n", method, target)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// demoKey is one key of the demo configuration.
type demoKey struct {
	ID, Key, Consumer string
	Scopes            []string
}

// demoKeys are the keys the suite uses, picked from examples/config.json by
// their state so that renaming them there does not break the suite.
type demoKeys struct {
	Valid, Revoked, Expired demoKey
	All                     []string // every raw key, to check none leaks
}

// loadDemo reads examples/config.json and examples/demo-keys.txt.
func loadDemo(t *testing.T) (config map[string]any, keys demoKeys) {
	t.Helper()
	raw, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &config); err != nil {
		t.Fatalf("%s: %v", exampleConfig, err)
	}
	byID := map[string]string{}
	f, err := os.ReadFile(demoKeysFile)
	if err != nil {
		t.Fatal(err)
	}
	for n, line := range strings.Split(string(f), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, key, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("%s:%d: want id<TAB>key", demoKeysFile, n+1)
		}
		byID[id] = strings.TrimSpace(key)
		keys.All = append(keys.All, strings.TrimSpace(key))
	}
	now := time.Now()
	var found [3]bool
	consumers, _ := config["consumers"].([]any)
	for _, c := range consumers {
		c, _ := c.(map[string]any)
		var scopes []string
		for _, s := range asSlice(c["scopes"]) {
			scopes = append(scopes, fmt.Sprint(s))
		}
		for _, k := range asSlice(c["keys"]) {
			k, _ := k.(map[string]any)
			id, _ := k["id"].(string)
			key, ok := byID[id]
			if !ok {
				continue
			}
			sum := sha256.Sum256([]byte(key))
			if k["sha256"] != hex.EncodeToString(sum[:]) {
				t.Fatalf("%s: key %s does not match its sha256 in %s", demoKeysFile, id, exampleConfig)
			}
			dk := demoKey{ID: id, Key: key, Consumer: fmt.Sprint(c["id"]), Scopes: scopes}
			notBefore, _ := time.Parse(time.RFC3339, fmt.Sprint(k["not_before"]))
			notAfter, errAfter := time.Parse(time.RFC3339, fmt.Sprint(k["not_after"]))
			switch {
			case k["revoked"] == true:
				keys.Revoked, found[1] = dk, true
			case errAfter == nil && notAfter.Before(now):
				keys.Expired, found[2] = dk, true
			case notBefore.Before(now) && hasString(scopes, "orders:read") && !hasString(scopes, "files:read"):
				keys.Valid, found[0] = dk, true
			}
		}
	}
	for i, what := range []string{"a valid key with orders:read and without files:read", "a revoked key", "an expired key"} {
		if !found[i] {
			t.Fatalf("%s with %s: no %s", exampleConfig, demoKeysFile, what)
		}
	}
	return config, keys
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
