package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestNoFollowOnRequiredErrors: a misspelt required field is reported once,
// as an unknown field with its suggestion, not also as missing under its
// right name, at every level of the configuration.
func TestNoFollowOnRequiredErrors(t *testing.T) {
	const sum = "abababababababababababababababababababababababababababababababab"
	for _, tc := range []struct {
		name, config, path string
	}{
		{"pagination max_limit", `{"pagination": {"p": {"limit_param": "limit", "default_limit": 2, "max_limt": 5}},
			"routes": [{"name": "r", "path": "/r", "public": true, "pagination": "p"}]}`, "pagination.p.max_limt"},
		{"key_format prefix", `{"key_format": {"prefx": "agk_"}, "routes": [{"name": "r", "path": "/r", "public": true}]}`, "key_format.prefx"},
		{"consumer id", `{"consumers": [{"idd": "c", "scopes": ["a"], "keys": [{"id": "k", "sha256": "` + sum + `"}]}],
			"routes": [{"name": "r", "path": "/r", "scopes": ["a"]}]}`, "consumers[0].idd"},
		{"key sha256", `{"consumers": [{"id": "c", "scopes": ["a"], "keys": [{"id": "k", "sha265": "` + sum + `"}]}],
			"routes": [{"name": "r", "path": "/r", "scopes": ["a"]}]}`, "consumers[0].keys[0].sha265"},
		{"route name", `{"routes": [{"nmae": "r", "path": "/r", "public": true}]}`, "routes[0].nmae"},
		{"route path", `{"routes": [{"name": "r", "pth": "/r", "public": true}]}`, "routes[0].pth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile([]byte(tc.config))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile: %v, want a ConfigError", err)
			}
			if len(ce.Errors) != 1 || ce.Errors[0].Path != tc.path || !strings.HasPrefix(ce.Errors[0].Msg, "unknown field (did you mean") {
				t.Errorf("errors %v, want only the unknown field %s", ce.Errors, tc.path)
			}
		})
	}
	// A required field that is simply missing is still reported.
	_, err := Compile([]byte(`{"routes": [{"name": "r", "public": true}]}`))
	if err == nil || !strings.Contains(err.Error(), "routes[0].path: is required") {
		t.Errorf("missing path: %v", err)
	}
}
