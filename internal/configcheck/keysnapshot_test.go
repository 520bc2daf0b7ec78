package configcheck

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// The key store example (examples/key-store).
var (
	ksDir       = filepath.Join("..", "..", "examples", "key-store")
	ksConfig    = filepath.Join(ksDir, "config.json")
	ksEnvoy     = filepath.Join(ksDir, "envoy.yaml")
	ksConsumers = filepath.Join(ksDir, "consumers.json")
	ksSigning   = filepath.Join(ksDir, "demo-signing-key.pem")
)

// demoSigningKey reads the example's public demo signing key.
func demoSigningKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	b, _ := pem.Decode([]byte(readFile(t, ksSigning)))
	if b == nil {
		t.Fatalf("%s holds no PEM block", ksSigning)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("%s is not an Ed25519 key", ksSigning)
	}
	return priv
}

// exampleSnapshot is the example's snapshot, signed with priv, after edit
// changes its consumers.
func exampleSnapshot(t *testing.T, priv ed25519.PrivateKey, edit func([]keysnap.Consumer)) []byte {
	t.Helper()
	cons, keys, err := policy.ParseConsumers([]byte(readFile(t, ksConsumers)))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cons)
	}
	snap, err := keysnap.Encode(&keysnap.Snapshot{Generation: 1, Created: time.Now(), Consumers: cons, Keys: keys}, priv)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestKeyStoreExampleCopies: the example's envoy.yaml carries config.json,
// whose public key is the demo signing key's, and the example holds
// examples/config.json split into consumers and the rest.
func TestKeyStoreExampleCopies(t *testing.T) {
	want := jsonValue(t, ksConfig, []byte(readFile(t, ksConfig)))
	if got := jsonValue(t, ksEnvoy+" configuration", []byte(wasmFilterConfig(t, readFile(t, ksEnvoy)))); !reflect.DeepEqual(got, want) {
		t.Errorf("the configuration in %s differs from %s; copy it over", ksEnvoy, ksConfig)
	}
	// The example is a migration of examples/config.json: its consumers in
	// consumers.json, everything else in config.json.
	inline := jsonValue(t, exampleFile, []byte(readFile(t, exampleFile))).(map[string]any)
	store := want.(map[string]any)
	if cons := jsonValue(t, ksConsumers, []byte(readFile(t, ksConsumers))).(map[string]any); !reflect.DeepEqual(cons["consumers"], inline["consumers"]) {
		t.Errorf("the consumers of %s differ from those of %s", ksConsumers, exampleFile)
	}
	for k, v := range inline {
		if k != "consumers" && !reflect.DeepEqual(store[k], v) {
			t.Errorf("%s of %s differs from %s's", k, ksConfig, exampleFile)
		}
	}
	for k := range store {
		if _, ok := inline[k]; !ok && k != "key_store" {
			t.Errorf("%s has %s, which %s has not", ksConfig, k, exampleFile)
		}
	}

	p, err := policy.Compile([]byte(readFile(t, ksConfig)))
	if err != nil {
		t.Fatal(err)
	}
	pub := demoSigningKey(t).Public().(ed25519.PublicKey)
	if ks := p.KeyStore(); ks == nil || !pub.Equal(ks.PublicKey) {
		t.Errorf("%s: key_store.public_key is not the public key of %s (%s)", ksConfig, ksSigning, base64.StdEncoding.EncodeToString(pub))
	}
}

// warningsAt returns the paths of the warnings, and of the errors, of probs.
func warningsAt(probs []Problem) (warnings, errors []string) {
	for _, p := range probs {
		if p.Warning {
			warnings = append(warnings, p.Path)
		} else {
			errors = append(errors, p.Path+": "+p.Msg)
		}
	}
	return warnings, errors
}

// TestKeySnapshotJudgesWarnings: without the snapshot, the example's "demo"
// rate-limit policy and "gold-daily" quota (named only by a consumer of the
// snapshot) are reported unused, with a note at key_store; with it, in each kind of file that
// carries the configuration, there is no warning; with a snapshot whose
// consumers name neither it nor a scope a route needs, both are reported;
// a snapshot the filter would reject is an error at key_store.
func TestKeySnapshotJudgesWarnings(t *testing.T) {
	priv := demoSigningKey(t)
	snap := exampleSnapshot(t, priv, nil)
	cfg := readFile(t, ksConfig)
	istio := strings.Replace(readFile(t, istioFile), "  pluginConfig:\n", "  pluginConfig: "+strings.ReplaceAll(cfg, "\n", " ")+"\n  unused:\n", 1)
	istio = istio[:strings.Index(istio, "  unused:\n")]

	kind, probs := Validate([]byte(cfg), EnvoyOptions{})
	warnings, errs := warningsAt(probs)
	if want := []string{"key_store", "rate_limits.demo", "quotas.gold-daily"}; kind != KindPluginConfig || len(errs) > 0 || !reflect.DeepEqual(warnings, want) {
		t.Errorf("without the snapshot: %v, warnings at %q, errors %q; want warnings at %q", kind, warnings, errs, want)
	}

	for _, file := range []struct {
		name, data string
		kind       Kind
	}{
		{ksConfig, cfg, KindPluginConfig},
		{ksEnvoy, readFile(t, ksEnvoy), KindEnvoyBootstrap},
		{"a WasmPlugin carrying " + ksConfig, istio, KindIstioWasmPlugin},
	} {
		kind, probs := Validate([]byte(file.data), EnvoyOptions{KeySnapshot: snap})
		var judged []string
		for _, p := range probs {
			if p.Warning && (strings.Contains(p.Path, "rate_limits") || strings.Contains(p.Path, "quotas") ||
				strings.Contains(p.Path, "key_store") || strings.Contains(p.Path, "scopes")) {
				judged = append(judged, p.Path+": "+p.Msg)
			}
		}
		if kind != file.kind || len(Errors(probs)) > 0 || len(judged) > 0 {
			t.Errorf("%s with the snapshot: %v, errors:\n%s\nwarnings %q; want none", file.name, kind, listProblems(Errors(probs)), judged)
		}
	}

	// Consumers that name no rate-limit policy or quota and are granted
	// no scope.
	bare := exampleSnapshot(t, priv, func(cs []keysnap.Consumer) {
		for i := range cs {
			cs[i].RateLimit, cs[i].Quota, cs[i].Scopes = "", "", nil
		}
	})
	_, probs = Validate([]byte(cfg), EnvoyOptions{KeySnapshot: bare})
	text := listProblems(probs)
	for _, want := range []string{`rate_limits.demo: rate limit policy "demo" is not used`, `quotas.gold-daily: quota "gold-daily" is not used`,
		`routes[0].scopes[0]: no consumer is granted scope "orders:read"`} {
		if !strings.Contains(text, want) {
			t.Errorf("with consumers granted nothing, no %q among:\n%s", want, text)
		}
	}

	// Signed with another key: the filter would reject it.
	_, other, _ := ed25519.GenerateKey(nil)
	_, probs = Validate([]byte(cfg), EnvoyOptions{KeySnapshot: exampleSnapshot(t, other, nil)})
	errs = nil
	for _, p := range Errors(probs) {
		errs = append(errs, p.Path+": "+p.Msg)
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "key_store: the key snapshot does not load") || !strings.Contains(errs[0], "bad_signature") {
		t.Errorf("a snapshot signed with another key: errors %q, want one at key_store naming bad_signature", errs)
	}

	// An inline configuration does not use the snapshot, and says so.
	_, probs = Validate([]byte(readFile(t, exampleFile)), EnvoyOptions{KeySnapshot: snap})
	if !strings.Contains(listProblems(probs), "keys are inline: the snapshot is not used") {
		t.Errorf("an inline configuration with a snapshot:\n%s", listProblems(probs))
	}
}
