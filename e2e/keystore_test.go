package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/apiguard/apiguard/internal/configcheck"
	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keysnap"
)

const e2eKeyCluster = "apiguard-keys"

// snapshotServer serves the snapshot it holds, with an ETag.
type snapshotServer struct {
	mu   sync.Mutex
	snap []byte
	hits int
}

func (s *snapshotServer) set(b []byte) {
	s.mu.Lock()
	s.snap = b
	s.mu.Unlock()
}

func (s *snapshotServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	snap := s.snap
	s.hits++
	s.mu.Unlock()
	sum := sha256.Sum256(snap)
	// ETag, If-None-Match, Range and If-Range, as an object store answers.
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(snap))
}

// keyStoreSetup splits the demo configuration into a plugin configuration
// with a key_store and a snapshot builder of its consumers, signed with a
// fresh key; revoke names key ids to mark revoked.
func keyStoreSetup(t *testing.T, config map[string]any) (pluginConfig []byte, build func(gen uint64, revoke ...string) []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	consumers := config["consumers"]
	cfg := map[string]any{}
	for k, v := range config {
		cfg[k] = v
	}
	delete(cfg, "consumers")
	cfg["key_store"] = map[string]any{"cluster": e2eKeyCluster, "authority": "keys.internal", "path": "/apiguard/keys.snap",
		"refresh": "1s", "timeout": "500ms", "public_key": base64.StdEncoding.EncodeToString(pub)}
	pluginConfig = raiseRateLimits(t, cfg)
	build = func(gen uint64, revoke ...string) []byte {
		raw, _ := json.Marshal(map[string]any{"consumers": consumers})
		var doc map[string]any
		json.Unmarshal(raw, &doc) // a deep copy to edit
		for _, c := range asSlice(doc["consumers"]) {
			for _, k := range asSlice(c.(map[string]any)["keys"]) {
				k := k.(map[string]any)
				if hasString(revoke, k["id"].(string)) {
					k["revoked"] = true
				}
			}
		}
		raw, _ = json.Marshal(doc)
		cons, keys, err := policy.ParseConsumers(raw)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := keysnap.Encode(&keysnap.Snapshot{Generation: gen, Created: time.Now(), Consumers: cons, Keys: keys}, priv)
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	return pluginConfig, build
}

// renderKeyStoreConfig is renderConfig with the key store's cluster.
func renderKeyStoreConfig(t *testing.T, upstreamPort, keyStorePort int, pluginConfig []byte) string {
	t.Helper()
	shipped, err := os.ReadFile(envoyYAML)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := filepath.Abs(wasmFile)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(shipped, RenderOptions{UpstreamPort: upstreamPort, WasmPath: wasm, PluginConfig: pluginConfig,
		KeyStoreCluster: e2eKeyCluster, KeyStorePort: keyStorePort})
	if err != nil {
		t.Fatal(err)
	}
	if probs := configcheck.ValidateEnvoyYAML(out, configcheck.EnvoyOptions{WasmPath: wasm}); len(configcheck.Errors(probs)) > 0 {
		t.Fatalf("rendered envoy.yaml is invalid: %v", probs)
	}
	path := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The rendered bootstrap has the key store's cluster and still validates;
// this runs without Envoy.
func TestRenderKeyStoreCluster(t *testing.T) {
	config, _ := loadDemo(t)
	pluginConfig, _ := keyStoreSetup(t, config)
	path := renderKeyStoreConfig(t, 8081, 9099, pluginConfig)
	data, _ := os.ReadFile(path)
	var root map[string]any
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range asSlice(dig(root, "static_resources", "clusters")) {
		if dig(c, "name") == e2eKeyCluster {
			eps := asSlice(dig(c, "load_assignment", "endpoints"))
			lb := asSlice(dig(eps[0], "lb_endpoints"))
			found = dig(lb[0], "endpoint", "address", "socket_address", "port_value") == 9099
		}
	}
	if !found {
		t.Fatalf("no cluster %s with port 9099 in:\n%s", e2eKeyCluster, data)
	}
	// Without the cluster, validate names the key store's cluster.
	shipped, _ := os.ReadFile(envoyYAML)
	wasm, _ := filepath.Abs(wasmFile)
	out, err := Render(shipped, RenderOptions{UpstreamPort: 8081, WasmPath: wasm, PluginConfig: pluginConfig})
	if err != nil {
		t.Fatal(err)
	}
	probs := configcheck.Errors(configcheck.ValidateEnvoyYAML(out, configcheck.EnvoyOptions{WasmPath: wasm}))
	if len(probs) != 1 || !strings.Contains(probs[0].String(), `key_store.cluster: key store cluster "apiguard-keys", which static_resources.clusters does not define`) {
		t.Errorf("validate without the key store cluster: %v", probs)
	}
}

// Envoy fetches the snapshot from a loopback server through a cluster; a
// key revoked in a new snapshot is refused on every worker within one
// refresh (1 s), plus a second for the fetch and load.
func TestKeyStoreRevocation(t *testing.T) {
	t.Parallel()
	bin := needEnvoy(t)
	config, keys := loadDemo(t)
	pluginConfig, build := keyStoreSetup(t, config)
	srv := &snapshotServer{}
	srv.set(build(1))
	ts := httptest.NewServer(srv)
	defer ts.Close()
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	var ksPort int
	for _, c := range port {
		ksPort = ksPort*10 + int(c-'0')
	}
	up := startEcho(t)
	env := startEnvoy(t, bin, renderKeyStoreConfig(t, up, ksPort, pluginConfig))
	valid := map[string]string{"x-api-key": keys.Valid.Key}

	// The first snapshot is fetched at start: the valid key works soon.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := env.raw(t, "GET", listPath, valid)
		if r.Status == 200 {
			break
		}
		if r.Status != 503 || time.Now().After(deadline) {
			t.Fatalf("valid key before/while the first snapshot loads: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Public routes never need the store.
	if r := env.raw(t, "GET", "/healthz", nil); r.Status == 503 {
		t.Fatalf("public route: %d", r.Status)
	}

	srv.set(build(2, keys.Valid.ID))
	revoked := time.Now()
	for {
		// New connections, so that both workers answer over the loop.
		all401 := true
		for i := 0; i < 10; i++ {
			r := env.raw(t, "GET", listPath, valid)
			if r.Status != 401 {
				all401 = false
				if r.Status != 200 {
					t.Fatalf("during the refresh: %d %s", r.Status, r.Body)
				}
			}
		}
		if all401 {
			break
		}
		if time.Since(revoked) > 2*time.Second {
			t.Fatalf("the revoked key is still accepted %v after the new snapshot was served", time.Since(revoked))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("revocation enforced %v after the snapshot changed", time.Since(revoked).Round(time.Millisecond))
	_, stats, err := env.adminGet("/stats?filter=apiguard.key_store")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stats, "apiguard.key_store.generation: 2") {
		t.Errorf("key store gauges:\n%s", stats)
	}
}
