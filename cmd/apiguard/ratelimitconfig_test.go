package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/apiguard/apiguard/internal/ratelimitconf"
)

// TestRateLimitConfigShipped: deploy/ratelimit/apiguard.yaml is what the
// command writes for examples/config.json.
func TestRateLimitConfigShipped(t *testing.T) {
	r := apiguard(t, "", "ratelimit-config", "--config", repoFile(t, "examples/config.json"))
	r.wantCode(t, exitOK)
	want, err := os.ReadFile(repoFile(t, "deploy/ratelimit/apiguard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(want) {
		t.Errorf("deploy/ratelimit/apiguard.yaml is stale; regenerate it with\n"+
			"  go run ./cmd/apiguard ratelimit-config --config examples/config.json --out deploy/ratelimit/apiguard.yaml\ngot:\n%s", r.stdout)
	}
}

func TestRateLimitConfig(t *testing.T) {
	cfg := `{"consumers": [{"id": "a", "quota": "q1", "keys": []}],
	  "quotas": {"q1": {"requests": 5, "per": "second"}, "q0": {"requests": 7, "per": "month"}}}`
	out := filepath.Join(t.TempDir(), "rl.yaml")
	r := apiguard(t, cfg, "ratelimit-config", "--config", "-", "--domain", "edge", "--out", out)
	r.wantCode(t, exitOK)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var f ratelimitconf.File
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if f.Domain != "edge" || len(f.Descriptors) != 2 {
		t.Fatalf("%+v", f)
	}
	for i, want := range []struct {
		name, unit string
		n          int64
	}{{"q0", "month", 7}, {"q1", "second", 5}} {
		d := f.Descriptors[i]
		if d.Key != ratelimitconf.DescriptorQuota || d.Value != want.name || d.RateLimit != nil || len(d.Descriptors) != 1 {
			t.Fatalf("descriptor %d: %+v", i, d)
		}
		in := d.Descriptors[0]
		if in.Key != ratelimitconf.DescriptorConsumer || in.Value != "" || in.RateLimit == nil ||
			in.RateLimit.Unit != want.unit || in.RateLimit.RequestsPerUnit != want.n {
			t.Errorf("descriptor %d: %+v %+v", i, in, in.RateLimit)
		}
	}
}

func TestRateLimitConfigErrors(t *testing.T) {
	r := apiguard(t, `{"quotas": {"q": {"requests": 5, "per": "fortnight"}}, "default_quota": "x"}`, "ratelimit-config", "--config", "-")
	r.wantCode(t, exitFail)
	for _, want := range []string{`-: quotas.q.per: must be one of`, `-: default_quota: unknown quota "x"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("wrote a configuration for an invalid one:\n%s", r.stdout)
	}
	apiguard(t, "", "ratelimit-config").wantCode(t, exitError)
	apiguard(t, "{}", "ratelimit-config", "--config", "-", "--domain", "").wantCode(t, exitError)
	apiguard(t, "", "ratelimit-config", "--config", filepath.Join(t.TempDir(), "missing.json")).wantCode(t, exitError)
	r = apiguard(t, "{}", "ratelimit-config", "--config", "-")
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stderr, "defines no quotas") || !strings.Contains(r.stdout, "descriptors: []") {
		t.Errorf("no quotas: stdout %q stderr %q", r.stdout, r.stderr)
	}
}

// TestValidateRateLimitDomain: validate checks envoy.yaml's rate-limit
// domain against --ratelimit-domain.
func TestValidateRateLimitDomain(t *testing.T) {
	envoy := repoFile(t, "envoy.yaml")
	apiguard(t, "", "validate", "--ratelimit-domain", "apiguard", envoy).wantCode(t, exitOK)
	r := apiguard(t, "", "validate", "--ratelimit-domain", "edge", envoy)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, `.domain: domain "apiguard", but apiguard's quotas are in domain "edge"`) {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}
