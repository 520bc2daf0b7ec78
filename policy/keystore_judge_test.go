package policy

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy/keysnap"
)

// judgeConfig has a key_store and policies and scopes that only a
// snapshot's consumers can use or be granted.
func judgeConfig(pub ed25519.PublicKey) string {
	return `{"key_store": {"cluster": "keys", "path": "/keys.snap", "public_key": "` + base64.StdEncoding.EncodeToString(pub) + `"},
	"routes": [
		{"name": "read", "path": "/a", "scopes": ["a:read"]},
		{"name": "write", "path": "/b", "scopes": ["b:write"]}],
	"rate_limits": {"gold": {"requests": 5, "per": "1s"}, "spare": {"requests": 5, "per": "1s"}},
	"quotas": {"daily": {"requests": 5, "per": "day"}, "monthly": {"requests": 5, "per": "month"}},
	"default_quota": "daily"}`
}

func judgeSnapshot(t *testing.T, priv ed25519.PrivateKey) []byte {
	t.Helper()
	snap, err := keysnap.Encode(&keysnap.Snapshot{Generation: 1, Created: now,
		Consumers: []keysnap.Consumer{{ID: "c", Scopes: []string{"a:read"}, RateLimit: "gold"}},
		Keys:      []keysnap.Key{{Digest: [32]byte(sha256Sum("secret")), Consumer: 0, ID: "k", NotBefore: keysnap.NoLowerBound, NotAfter: keysnap.NoUpperBound}},
	}, priv)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func warningPaths(p *Policy) []string {
	var paths []string
	for _, w := range p.Warnings() {
		paths = append(paths, w.Path)
	}
	slices.Sort(paths)
	return paths
}

// TestCompileWithSnapshotJudgesWarnings: without the snapshot, a policy
// only its consumers name is unused and scopes are not checked; with it,
// the warnings are those of the snapshot's consumers.
func TestCompileWithSnapshotJudgesWarnings(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.New(rand.NewSource(1)))
	cfg := []byte(judgeConfig(pub))
	snap := judgeSnapshot(t, priv)

	alone, err := CompileAt(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := warningPaths(alone), []string{"quotas.monthly", "rate_limits.gold", "rate_limits.spare"}; !slices.Equal(got, want) {
		t.Errorf("warnings without the snapshot at %q, want %q", got, want)
	}

	p, err := CompileWithSnapshot(cfg, snap, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := warningPaths(p), []string{"quotas.monthly", "rate_limits.spare", "routes[1].scopes[0]"}; !slices.Equal(got, want) {
		t.Errorf("warnings with the snapshot at %q, want %q", got, want)
	}
	for _, w := range p.Warnings() {
		if w.Path == "routes[1].scopes[0]" && !strings.Contains(w.Msg, `"b:write"`) {
			t.Errorf("scope warning %q does not name the scope", w.Msg)
		}
	}
	// The policy returned has the snapshot's keys.
	if d := p.Decide(get("/a", "x-api-key", "secret")); d.Reason != ReasonAllowed || d.Identity.Consumer != "c" {
		t.Errorf("a snapshot key on its route: %s (consumer %q), want allowed for c", d.Reason, d.Identity.Consumer)
	}
}

func TestCompileWithSnapshotErrors(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.New(rand.NewSource(1)))
	_, other, _ := ed25519.GenerateKey(rand.New(rand.NewSource(2)))
	cfg := []byte(judgeConfig(pub))

	_, err := CompileWithSnapshot(cfg, judgeSnapshot(t, other), now)
	var le *LoadError
	if !errors.As(err, &le) || le.Cause != CauseBadSignature {
		t.Errorf("a snapshot signed with another key: %v, want a LoadError (%s)", err, CauseBadSignature)
	}

	_, err = CompileWithSnapshot([]byte(`{"consumers": [], "routes": []}`), judgeSnapshot(t, priv), now)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Errors) != 1 || ce.Errors[0].Path != "key_store" {
		t.Errorf("an inline configuration: %v, want one error at key_store", err)
	}

	_, err = CompileWithSnapshot([]byte(`{"routes": 3}`), judgeSnapshot(t, priv), time.Time{})
	if !errors.As(err, &ce) {
		t.Errorf("an invalid configuration: %v, want a ConfigError", err)
	}
}
