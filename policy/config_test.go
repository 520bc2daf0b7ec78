package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy/keymat"
)

// sum is a valid key hash for the tests.
var sum = keymat.Hash("secret")

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   []string // every error, exactly, in order
	}{
		{"empty", ``, []string{"configuration is empty"}},
		{"whitespace", " \n\t ", []string{"configuration is empty"}},
		{"invalid json", `{"mode": }`, []string{"configuration is not valid JSON (at byte offset 10: invalid character '}' looking for beginning of value)"}},
		{"not an object", `[1]`, []string{"configuration must be a JSON object, got array"}},
		{"too deep", strings.Repeat("[", 40) + strings.Repeat("]", 40), []string{"configuration is nested more than 32 levels deep"}},
		{"unknown top-level", `{"mdoe": "enforce"}`, []string{`mdoe: unknown field (did you mean "mode"?)`}},
		{"duplicate field", `{"mode": "enforce", "mode": "shadow"}`, []string{"mode: duplicate field"}},
		{"odd field name", `{"a b": 1}`, []string{`["a b"]: unknown field`}},
		{"mode value", `{"mode": "audit"}`, []string{`mode: must be one of "enforce", "shadow", got "audit"`}},
		{"mode type", `{"mode": 1}`, []string{"mode: must be a string, got number"}},
		{"bool type", `{"hide_credentials": "yes", "log_allowed": null}`, []string{"hide_credentials: must be a boolean, got string", "log_allowed: must be a boolean, got null"}},
		{"unmatched", `{"unmatched": "allow"}`, []string{`unmatched: must be one of "deny", "allow_authenticated", got "allow"`}},
		{"anonymous_buckets range", `{"anonymous_buckets": 0}`, []string{"anonymous_buckets: must be between 1 and 65536, got 0"}},
		{"anonymous_buckets float", `{"anonymous_buckets": 1.5}`, []string{"anonymous_buckets: must be an integer between 1 and 65536, got 1.5"}},
		{"anonymous_buckets exponent", `{"anonymous_buckets": 1e3}`, []string{"anonymous_buckets: must be an integer between 1 and 65536, got 1e3"}},
		{"anonymous_buckets overflow", `{"anonymous_buckets": 99999999999999999999}`, []string{"anonymous_buckets: must be between 1 and 65536, got 99999999999999999999"}},

		{"key_sources empty", `{"key_sources": []}`, []string{"key_sources: must list at least one source"}},
		{"key_sources type", `{"key_sources": {}}`, []string{"key_sources: must be an array, got object"}},
		{"key_sources element", `{"key_sources": ["x-api-key"]}`, []string{"key_sources[0]: must be an object, got string"}},
		{"key_source nothing", `{"key_sources": [{}]}`, []string{`key_sources[0]: must have "header" or "query"`}},
		{"key_source both", `{"key_sources": [{"header": "a", "query": "b"}]}`, []string{`key_sources[0]: must have only one of "header" and "query"`}},
		{"key_source scheme on query", `{"key_sources": [{"query": "k", "scheme": "ApiKey"}]}`, []string{`key_sources[0].scheme: is only allowed with "header"`}},
		{"key_source bad header", `{"key_sources": [{"header": "x key"}, {"header": ":path"}]}`, []string{`key_sources[0].header: must be a valid header name, got "x key"`, `key_sources[1].header: must be a valid header name, got ":path"`}},
		{"key_source bad scheme", `{"key_sources": [{"header": "authorization", "scheme": "Api Key"}]}`, []string{`key_sources[0].scheme: must be an authentication scheme token, got "Api Key"`}},
		{"key_source empty query", `{"key_sources": [{"query": ""}]}`, []string{`key_sources[0].query: must not be empty`, `key_sources[0]: must have "header" or "query"`}},
		{"key_source unknown field", `{"key_sources": [{"header": "a", "prefix": "x"}]}`, []string{"key_sources[0].prefix: unknown field"}},
		{"key_source duplicates", `{"key_sources": [{"header": "X-A"}, {"header": "x-a"}, {"query": "q"}, {"query": "q"}, {"header": "authorization", "scheme": "A"}, {"header": "authorization", "scheme": "a"}, {"header": "authorization", "scheme": "B"}]}`, []string{
			`key_sources[1]: duplicate header "x-a" (the same header may only repeat with distinct schemes)`,
			`key_sources[3]: duplicate query parameter "q"`,
			`key_sources[5]: duplicate header "authorization" (the same header may only repeat with distinct schemes)`,
		}},
		{"key_sources too many", `{"key_sources": [{"header": "a"}, {"header": "b"}, {"header": "c"}, {"header": "d"}, {"header": "e"}, {"header": "f"}, {"header": "g"}, {"header": "h"}, {"header": "i"}]}`, []string{"key_sources: must list at most 8 sources"}},

		{"key_format prefix missing", `{"key_format": {"checksum": false}}`, []string{"key_format.prefix: is required"}},
		{"key_format prefix empty", `{"key_format": {"prefix": ""}}`, []string{"key_format.prefix: must be 1 to 64 visible ASCII characters (no spaces)"}},
		{"key_format prefix space", `{"key_format": {"prefix": "a b"}}`, []string{"key_format.prefix: must be 1 to 64 visible ASCII characters (no spaces)"}},
		{"key_format type", `{"key_format": "agk_"}`, []string{"key_format: must be an object, got string"}},
		{"key_format checksum type", `{"key_format": {"prefix": "a", "checksum": 1}}`, []string{"key_format.checksum: must be a boolean, got number"}},

		{"consumer id missing", `{"consumers": [{"scopes": []}]}`, []string{"consumers[0].id: is required"}},
		{"consumer id bad", `{"consumers": [{"id": "a b"}, {"id": ""}]}`, []string{"consumers[0].id: must be 1 to 256 visible ASCII characters (no spaces)", "consumers[1].id: must be 1 to 256 visible ASCII characters (no spaces)"}},
		{"consumer duplicate", `{"consumers": [{"id": "a"}, {"id": "a"}]}`, []string{`consumers[1].id: duplicate consumer id "a" (also consumers[0])`}},
		{"consumer scopes", `{"consumers": [{"id": "a", "scopes": ["x", "x", "a b", 3, "q\""]}]}`, []string{
			`consumers[0].scopes[1]: duplicate value "x"`,
			`consumers[0].scopes[2]: must be a scope token: visible ASCII without spaces, '"' or '\', got "a b"`,
			"consumers[0].scopes[3]: must be a string, got number",
			`consumers[0].scopes[4]: must be a scope token: visible ASCII without spaces, '"' or '\', got "q\""`,
		}},
		{"consumer unknown rate limit", `{"consumers": [{"id": "a", "rate_limit": "gold"}]}`, []string{`consumers[0].rate_limit: unknown rate limit policy "gold"`}},
		{"consumer unknown field", `{"consumers": [{"id": "a", "key": []}]}`, []string{`consumers[0].key: unknown field (did you mean "keys"?)`}},
		{"key fields missing", `{"consumers": [{"id": "a", "keys": [{}]}]}`, []string{"consumers[0].keys[0].id: is required", "consumers[0].keys[0].sha256: is required"}},
		{"key hash uppercase", `{"consumers": [{"id": "a", "keys": [{"id": "k", "sha256": "` + strings.ToUpper(sum) + `"}]}]}`, []string{"consumers[0].keys[0].sha256: must be 64 lowercase hex digits (the SHA-256 of the whole key)"}},
		{"key hash short", `{"consumers": [{"id": "a", "keys": [{"id": "k", "sha256": "abc"}]}]}`, []string{"consumers[0].keys[0].sha256: must be 64 lowercase hex digits (the SHA-256 of the whole key)"}},
		{"key hash not hex", `{"consumers": [{"id": "a", "keys": [{"id": "k", "sha256": "` + strings.Repeat("g", 64) + `"}]}]}`, []string{"consumers[0].keys[0].sha256: must be 64 lowercase hex digits (the SHA-256 of the whole key)"}},
		{"key duplicate id across consumers", `{"consumers": [{"id": "a", "keys": [{"id": "k", "sha256": "` + sum + `"}]}, {"id": "b", "keys": [{"id": "k", "sha256": "` + keymat.Hash("other") + `"}]}]}`, []string{`consumers[1].keys[0].id: duplicate key id "k" (also consumers[0].keys[0])`}},
		{"key duplicate hash", `{"consumers": [{"id": "a", "keys": [{"id": "k1", "sha256": "` + sum + `"}, {"id": "k2", "sha256": "` + sum + `"}]}]}`, []string{`consumers[0].keys[1].sha256: duplicate key hash (also consumers[0].keys[0])`}},
		{"key times", `{"consumers": [{"id": "a", "keys": [{"id": "k", "sha256": "` + sum + `", "not_before": "2026-01-01", "not_after": 5, "revoked": "no"}]}]}`, []string{
			`consumers[0].keys[0].not_before: must be an RFC 3339 time such as "2026-01-01T00:00:00Z", got "2026-01-01"`,
			"consumers[0].keys[0].not_after: must be a string, got number",
			"consumers[0].keys[0].revoked: must be a boolean, got string",
		}},
		{"key window inverted", `{"consumers": [{"id": "a", "keys": [{"id": "k", "sha256": "` + sum + `", "not_after": "2026-01-01T00:00:00Z", "not_before": "2026-01-01T00:00:00Z"}]}]}`, []string{"consumers[0].keys[0].not_after: must be after not_before"}},

		{"route fields missing", `{"routes": [{}]}`, []string{"routes[0].name: is required", "routes[0].path: is required"}},
		{"route duplicate name", `{"routes": [{"name": "a", "path": "/a"}, {"name": "a", "path": "/b"}]}`, []string{`routes[1].name: duplicate route name "a" (also routes[0])`}},
		{"route unknown profile", `{"routes": [{"name": "a", "path": "/a"}, {"name": "b", "path": "/b"}, {"name": "c", "path": "/c", "pagination": "standrd"}]}`, []string{`routes[2].pagination: unknown profile "standrd"`}},
		{"route unknown rate limit", `{"routes": [{"name": "a", "path": "/a", "rate_limit": "x"}]}`, []string{`routes[0].rate_limit: unknown rate limit policy "x"`}},
		{"route path relative", `{"routes": [{"name": "a", "path": "a"}]}`, []string{"routes[0].path: must start with '/'"}},
		{"route path not normalized", `{"routes": [{"name": "a", "path": "/a//b/../c"}]}`, []string{`routes[0].path: must be normalized (no "//", "." or ".." segments, no percent-encoded unreserved characters): use "/a/c"`}},
		{"route path encoded slash", `{"routes": [{"name": "a", "path": "/a%2Fb"}]}`, []string{"routes[0].path: " + detailPathEncodedSlash}},
		{"route path star", `{"routes": [{"name": "a", "path": "/a/*/b"}, {"name": "b", "path": "/a*"}]}`, []string{`routes[0].path: '*' is only allowed as a final "/*" segment`, `routes[1].path: '*' is only allowed as a final "/*" segment`}},
		{"route path param", `{"routes": [{"name": "a", "path": "/a/{}"}, {"name": "b", "path": "/a/{x-y}"}, {"name": "c", "path": "/a/{x}/{x}"}, {"name": "d", "path": "/a/x{y}"}]}`, []string{
			`routes[0].path: parameter "{}" must be {name} with letters, digits and '_'`,
			`routes[1].path: parameter "{x-y}" must be {name} with letters, digits and '_'`,
			"routes[2].path: parameter {x} appears twice",
			`routes[3].path: segment "x{y}": '{' and '}' are only allowed around a whole {param} segment`,
		}},
		{"route methods", `{"routes": [{"name": "a", "path": "/a", "methods": []}, {"name": "b", "path": "/b", "methods": ["GET", "get", "G T"]}]}`, []string{
			"routes[0].methods: must not be empty (leave it out to allow every method)",
			`routes[1].methods[2]: must be an HTTP method token, got "G T"`,
		}},
		{"route public with scopes", `{"routes": [{"name": "a", "path": "/a", "public": true, "scopes": ["s"]}]}`, []string{"routes[0].scopes: must be empty on a public route"}},
		{"route name bad", `{"routes": [{"name": "a b", "path": "/a"}]}`, []string{"routes[0].name: must be 1 to 256 visible ASCII characters (no spaces)"}},
		{"route unknown field", `{"routes": [{"name": "a", "path": "/a", "method": "GET"}]}`, []string{`routes[0].method: unknown field (did you mean "methods"?)`}},

		{"profile max < default", `{"pagination": {"p": {"limit_param": "limit", "default_limit": 200, "max_limit": 100}}}`, []string{"pagination.p.default_limit: must be <= max_limit"}},
		{"profile default zero", `{"pagination": {"p": {"limit_param": "limit", "default_limit": 0, "max_limit": 100}}}`, []string{"pagination.p.default_limit: must be between 1 and 1000000000000, got 0"}},
		{"profile missing max", `{"pagination": {"p": {"limit_param": "limit", "offset_param": "o", "page_param": "p2", "cursor_param": "c"}}}`, []string{
			"pagination.p.max_limit: is required with limit_param",
			"pagination.p.max_offset: is required with offset_param",
			"pagination.p.max_page: is required with page_param",
			"pagination.p.max_cursor_length: is required with cursor_param",
		}},
		{"profile max without param", `{"pagination": {"p": {"max_limit": 5, "default_limit": 2, "cursor_param": "c", "max_cursor_length": 10}}}`, []string{"pagination.p.max_limit: needs limit_param", "pagination.p.default_limit: needs limit_param"}},
		{"profile nothing", `{"pagination": {"p": {"on_violation": "clamp"}}}`, []string{"pagination.p: must configure at least one of limit_param, offset_param, page_param and cursor_param"}},
		{"profile on_violation", `{"pagination": {"p": {"cursor_param": "c", "max_cursor_length": 10, "on_violation": "ignore"}}}`, []string{`pagination.p.on_violation: must be one of "reject", "clamp", got "ignore"`}},
		{"profile same names", `{"pagination": {"p": {"limit_param": "n", "max_limit": 5, "page_param": "n", "max_page": 5}}}`, []string{`pagination.p.page_param: duplicate parameter name "n"`}},
		{"profile empty name", `{"pagination": {"p": {"limit_param": "", "max_limit": 5}}}`, []string{"pagination.p.limit_param: must not be empty", "pagination.p.max_limit: needs limit_param", "pagination.p: must configure at least one of limit_param, offset_param, page_param and cursor_param"}},
		{"profile cursor length", `{"pagination": {"p": {"cursor_param": "c", "max_cursor_length": 0}}}`, []string{"pagination.p.max_cursor_length: must be between 1 and 65536, got 0"}},
		{"profile conflicts with key param", `{"key_sources": [{"query": "limit"}], "pagination": {"p": {"limit_param": "limit", "max_limit": 5}}}`, []string{`pagination.p.limit_param: conflicts with the key source query parameter "limit"`}},
		{"profile unknown field", `{"pagination": {"p": {"limit_param": "l", "max_limit": 5, "min_limit": 1}}}`, []string{`pagination.p.min_limit: unknown field (did you mean "max_limit"?)`}},
		{"profile type", `{"pagination": {"p": []}}`, []string{"pagination.p: must be an object, got array"}},

		{"rate limit missing fields", `{"rate_limits": {"r": {}}}`, []string{"rate_limits.r.requests: is required", "rate_limits.r.per: is required"}},
		{"rate limit bad duration", `{"rate_limits": {"r": {"requests": 1, "per": "1 second"}, "s": {"requests": 1, "per": "0s"}, "t": {"requests": 1, "per": "-1s"}}}`, []string{
			`rate_limits.r.per: must be a duration between 1ms and 8760h such as "1s" or "1m", got "1 second"`,
			`rate_limits.s.per: must be a duration between 1ms and 8760h such as "1s" or "1m", got "0s"`,
			`rate_limits.t.per: must be a duration between 1ms and 8760h such as "1s" or "1m", got "-1s"`,
		}},
		{"rate limit numbers", `{"rate_limits": {"r": {"requests": 0, "per": "1s", "burst": -1}}}`, []string{"rate_limits.r.requests: must be between 1 and 1000000000, got 0", "rate_limits.r.burst: must be between 1 and 1000000000, got -1"}},
		{"rate limit name", `{"rate_limits": {"a/b": {"requests": 1, "per": "1s"}}}`, []string{`rate_limits["a/b"]: policy name must be 1 to 64 letters, digits or "-_.:~"`}},
		{"rate limit unknown field", `{"rate_limits": {"r": {"requests": 1, "per": "1s", "window": "1s"}}}`, []string{"rate_limits.r.window: unknown field"}},
		{"default rate limit unknown", `{"default_rate_limit": "x"}`, []string{`default_rate_limit: unknown rate limit policy "x"`}},
		{"default rate limit type", `{"default_rate_limit": 1}`, []string{"default_rate_limit: must be a string, got number"}},

		{"forward bad", `{"forward": {"consumer_header": "a b", "scopes": "x"}}`, []string{`forward.consumer_header: must be a valid header name, got "a b"`, "forward.scopes: unknown field"}},
		{"forward duplicate", `{"forward": {"consumer_header": "x-a", "key_id_header": "X-A"}}`, []string{`forward.key_id_header: must differ from consumer_header ("x-a")`}},
		{"forward collides with key header", `{"forward": {"scopes_header": "x-api-key"}}`, []string{`forward.scopes_header: must differ from the key source header "x-api-key"`}},

		{"errors everywhere", `{"mode": "x", "routes": [{"name": "a", "path": "/a", "pagination": "nope"}], "consumers": [{"id": "c", "rate_limit": "nope"}], "extra": true}`, []string{
			`mode: must be one of "enforce", "shadow", got "x"`,
			"extra: unknown field",
			`routes[0].pagination: unknown profile "nope"`,
			`consumers[0].rate_limit: unknown rate limit policy "nope"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile([]byte(tt.config))
			if p != nil || err == nil {
				t.Fatalf("Compile succeeded, want errors %q", tt.want)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *ConfigError", err)
			}
			var got []string
			for _, fe := range ce.Errors {
				got = append(got, fe.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if err.Error() != strings.Join(tt.want, "\n") {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestFieldError(t *testing.T) {
	if got := (FieldError{Path: "routes[2].pagination", Msg: `unknown profile "standrd"`}).Error(); got != `routes[2].pagination: unknown profile "standrd"` {
		t.Errorf("Error() = %q", got)
	}
	if got := (FieldError{Msg: "configuration is empty"}).Error(); got != "configuration is empty" {
		t.Errorf("Error() = %q", got)
	}
}

func TestCompileDefaults(t *testing.T) {
	p := mustCompile(t, `{}`)
	if p.Shadow() || p.LogAllowed() || !p.hide || p.unmatched || p.anonBuckets != 1024 || p.format != nil || p.defaultLimit != -1 {
		t.Errorf("defaults: %+v", p)
	}
	if len(p.sources) != 1 || p.sources[0].header != "x-api-key" {
		t.Errorf("default key sources: %+v", p.sources)
	}
	if want := []string{"x-apiguard-consumer", "x-apiguard-key-id", "x-apiguard-scopes"}; !reflect.DeepEqual(p.remove[0], want) {
		t.Errorf("identity headers: %q", p.remove[0])
	}
	if d := p.Decide(get("/anything")); d.Reason != ReasonMissing {
		t.Errorf("empty policy: %s", d.Reason)
	}
	p = mustCompile(t, `{"key_format": {"prefix": "x_"}}`)
	if p.format == nil || !p.format.checksum {
		t.Errorf("key_format.checksum must default to true")
	}
}

func TestCompileReferenceTypes(t *testing.T) {
	_, err := Compile([]byte(`{"routes": [{"name": "a", "path": "/a", "pagination": 1, "rate_limit": false}], "consumers": [{"id": "c", "rate_limit": []}]}`))
	want := "routes[0].pagination: must be a string, got number\nroutes[0].rate_limit: must be a string, got boolean\nconsumers[0].rate_limit: must be a string, got array"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestParseUTCSecondsAgreesWithTimeParse: the fast path accepts a string
// only when time.Parse(time.RFC3339) accepts it, and gives the same instant.
func TestParseUTCSecondsAgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{
		"2026-01-01T00:00:00Z", "2024-02-29T23:59:59Z", "2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
		"2026-00-10T00:00:00Z", "2026-04-31T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
		"2026-01-01T00:00:60Z", "2026-01-01t00:00:00Z", "2026-01-01T00:00:00z", "2026-01-01T00:00:00+00:00",
		"2026-01-01T00:00:00.5Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-1a-01T00:00:00Z",
		"2026-01-01 00:00:00Z", "+026-01-01T00:00:00Z", "2026-01-00T00:00:00Z",
	} {
		fast, ok := parseUTCSeconds(s)
		slow, err := time.Parse(time.RFC3339, s)
		if ok && (err != nil || !fast.Equal(slow)) {
			t.Errorf("%q: fast path gave %v, time.Parse %v (%v)", s, fast, slow, err)
		}
		if !ok && err == nil && len(s) == 20 && s[19] == 'Z' && s[10] == 'T' {
			t.Errorf("%q: time.Parse accepts it (%v) but the fast path does not", s, slow)
		}
	}
}
