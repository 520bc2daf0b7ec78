package policy

import (
	"slices"
	"testing"
)

func TestSummarize(t *testing.T) {
	def := DefaultSummary()
	for _, tc := range []struct {
		name, config string
		want         Summary
		compiles     bool
	}{
		{"defaults", `{}`, def, true},
		{"set", `{"mode": "shadow", "log_allowed": true, "key_sources": [{"header": "x-k"}, {"query": "api_key"}],
			"forward": {"consumer_header": "X-Who", "quota_header": "x-plan"},
			"key_store": {"cluster": "keys", "path": "/k", "allow_unsigned": true}}`,
			Summary{Shadow: true, LogAllowed: true, QueryParams: []string{"api_key"},
				IdentityHeaders: [3]string{"x-who", def.IdentityHeaders[1], def.IdentityHeaders[2]}, QuotaHeader: "x-plan",
				KeyStoreCluster: "keys"}, true},
		// What could be read of a configuration that does not compile.
		{"invalid", `{"mode": "shadow", "default_rate_limit": "missing", "key_sources": [{"query": "k"}]}`,
			Summary{Shadow: true, QueryParams: []string{"k"}, IdentityHeaders: def.IdentityHeaders, QuotaHeader: def.QuotaHeader}, false},
		{"not JSON", `{`, def, false},
		{"not an object", `[]`, def, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Summarize([]byte(tc.config))
			if (err == nil) != tc.compiles {
				t.Errorf("err %v, want compiles %v", err, tc.compiles)
			}
			if got.Shadow != tc.want.Shadow || got.LogAllowed != tc.want.LogAllowed || !slices.Equal(got.QueryParams, tc.want.QueryParams) ||
				got.IdentityHeaders != tc.want.IdentityHeaders || got.QuotaHeader != tc.want.QuotaHeader || got.KeyStoreCluster != tc.want.KeyStoreCluster {
				t.Errorf("Summarize = %+v, want %+v", got, tc.want)
			}
		})
	}
	if def.IdentityHeaders != [3]string{"x-apiguard-consumer", "x-apiguard-key-id", "x-apiguard-scopes"} || def.QuotaHeader != DefaultQuotaHeader {
		t.Errorf("DefaultSummary = %+v", def)
	}
}

func TestForceLogAllowed(t *testing.T) {
	const rest = `"routes": [{"name": "all", "path": "/*", "public": true}]`
	for _, in := range []string{`{` + rest + `}`, `{"log_allowed": false, ` + rest + `}`, `{` + rest + `, "log_allowed": true}`,
		"{\n  " + rest + ",\n  \"log_allowed\" : false\n}", `{}`} {
		out := ForceLogAllowed([]byte(in))
		p, err := Compile(out)
		if err != nil {
			t.Fatalf("%s does not compile: %v", out, err)
		}
		if !p.LogAllowed() {
			t.Errorf("%s: log_allowed is off", out)
		}
	}
	for _, in := range []string{``, `[]`, `{`} {
		if out := ForceLogAllowed([]byte(in)); string(out) != in {
			t.Errorf("ForceLogAllowed(%q) = %q", in, out)
		}
	}
}

func TestIsKeyParam(t *testing.T) {
	s, err := Summarize([]byte(`{"key_sources": [{"header": "x-api-key"}, {"query": "api_key"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]bool{
		"api_key": true, "api%5Fkey": true, "api_key[]": true, "api_key%5B0%5D": true, "api_key%5b": true,
		"api_keys": false, "x-api-key": false, "api": false, "": false, "API_KEY": false,
	} {
		if got := s.IsKeyParam(raw); got != want {
			t.Errorf("IsKeyParam(%q) = %v, want %v", raw, got, want)
		}
	}
	if DefaultSummary().IsKeyParam("api_key") {
		t.Error("a configuration without query sources has a key parameter")
	}
}
