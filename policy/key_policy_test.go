package policy

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy/keymat"
)

// keyPolicyConfig is a configuration with one consumer whose keys are
// given as JSON objects (without sha256, which it adds).
func keyPolicyConfig(keyPolicy string, keys ...string) string {
	list := ""
	for i, k := range keys {
		if i > 0 {
			list += ","
		}
		list += fmt.Sprintf(`{"id": "k%d", "sha256": %q%s}`, i, keymat.Hash(fmt.Sprint("key", i)), k)
	}
	return `{"key_policy": ` + keyPolicy + `, "consumers": [{"id": "c", "keys": [` + list + `]}]}`
}

func TestKeyPolicyErrors(t *testing.T) {
	const window = `, "not_before": "2026-01-01T00:00:00Z", "not_after": "2026-03-01T00:00:00Z"`
	tests := []struct {
		name, policy string
		keys         []string
		want         []string
	}{
		{"ok", `{"max_lifetime": "90d", "expiry_warning": "14d"}`, []string{window}, nil},
		{"ok hours", `{"max_lifetime": "2160h"}`, []string{window}, nil},
		{"warning only allows any key", `{"expiry_warning": "14d"}`, []string{``}, nil},
		{"revoked keys are not checked", `{"max_lifetime": "90d"}`, []string{`, "revoked": true`}, nil},
		{"no not_after", `{"max_lifetime": "90d"}`, []string{`, "not_before": "2026-01-01T00:00:00Z"`},
			[]string{"consumers[0].keys[0]: has no not_after: key_policy.max_lifetime (90d) requires every key to expire"}},
		{"no not_before", `{"max_lifetime": "90d"}`, []string{`, "not_after": "2026-01-01T00:00:00Z"`},
			[]string{"consumers[0].keys[0]: has no not_before: key_policy.max_lifetime (90d) bounds not_after - not_before, so both are required"}},
		{"too long", `{"max_lifetime": "30d"}`, []string{window, `, "not_before": "2026-01-01T00:00:00Z", "not_after": "2026-01-31T00:00:00Z"`},
			[]string{"consumers[0].keys[0]: is valid for 59d, longer than key_policy.max_lifetime (30d)"}},
		{"exactly the lifetime", `{"max_lifetime": "59d"}`, []string{window}, nil},
		{"bad duration", `{"max_lifetime": "90days", "expiry_warning": "-1d"}`, []string{window},
			[]string{`key_policy.max_lifetime: must be a duration between 1h and 3650d such as "90d" or "720h", got "90days"`,
				`key_policy.expiry_warning: must be a duration between 1h and 3650d such as "90d" or "720h", got "-1d"`}},
		{"too short", `{"max_lifetime": "1m"}`, []string{window},
			[]string{`key_policy.max_lifetime: must be a duration between 1h and 3650d such as "90d" or "720h", got "1m"`}},
		{"warning not shorter", `{"max_lifetime": "30d", "expiry_warning": "30d"}`, []string{`, "not_before": "2026-01-01T00:00:00Z", "not_after": "2026-01-31T00:00:00Z"`},
			[]string{"key_policy.expiry_warning: must be shorter than max_lifetime"}},
		{"empty", `{}`, nil, []string{"key_policy: must set max_lifetime, expiry_warning or both"}},
		{"unknown field", `{"max_life": "90d"}`, nil, []string{`key_policy.max_life: unknown field`, "key_policy: must set max_lifetime, expiry_warning or both"}},
		{"not an object", `"90d"`, nil, []string{"key_policy: must be an object, got string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]byte(keyPolicyConfig(tt.policy, tt.keys...)))
			var got []string
			var ce *ConfigError
			if errors.As(err, &ce) {
				for _, fe := range ce.Errors {
					got = append(got, fe.Error())
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestExpiringKeys(t *testing.T) {
	at := time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)
	p := mustCompile(t, keyPolicyConfig(`{"max_lifetime": "90d", "expiry_warning": "14d"}`,
		`, "not_before": "2026-01-01T00:00:00Z", "not_after": "2026-03-01T00:00:00Z"`,                  // k0: in 9 days
		`, "not_before": "2026-01-01T00:00:00Z", "not_after": "2026-03-30T00:00:00Z"`,                  // k1: in 38 days
		`, "not_before": "2025-12-01T00:00:00Z", "not_after": "2026-02-01T00:00:00Z"`,                  // k2: expired
		`, "not_before": "2026-01-01T00:00:00Z", "not_after": "2026-02-25T00:00:00Z"`,                  // k3: in 5 days
		`, "not_before": "2026-01-01T00:00:00Z", "not_after": "2026-02-21T00:00:00Z", "revoked": true`, // k4: revoked
	))
	if got := p.CountExpiring(at); got != 2 {
		t.Errorf("CountExpiring = %d, want 2", got)
	}
	want := []ExpiringKey{
		{Consumer: "c", KeyID: "k3", NotAfter: time.Date(2026, 2, 25, 0, 0, 0, 0, time.UTC)},
		{Consumer: "c", KeyID: "k0", NotAfter: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	}
	if got := p.ExpiringKeys(at); !reflect.DeepEqual(got, want) {
		t.Errorf("ExpiringKeys = %+v, want %+v", got, want)
	}
	// The window's end is inclusive, its start (now) exclusive.
	if got := p.CountExpiring(time.Date(2026, 2, 15, 0, 0, 0, 0, time.UTC)); got != 2 {
		t.Errorf("CountExpiring 14 days before k0 = %d, want 2 (k0 and k3)", got)
	}
	if got := p.CountExpiring(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)); got != 0 {
		t.Errorf("CountExpiring when k0 expires = %d, want 0", got)
	}
	if got := mustCompile(t, `{}`).CountExpiring(at); got != 0 {
		t.Errorf("CountExpiring without key_policy = %d, want 0", got)
	}
}

func TestParseLongDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "0d": 0, "36h": 36 * time.Hour, "1h30m": 90 * time.Minute} {
		if got, ok := ParseLongDuration(s); !ok || got != want {
			t.Errorf("ParseLongDuration(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "d", "-1d", "+1d", "1.5d", "90days", "1w"} {
		if _, ok := ParseLongDuration(s); ok {
			t.Errorf("ParseLongDuration(%q) accepted", s)
		}
	}
}
