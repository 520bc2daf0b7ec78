package policy

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy/keymat"
)

const (
	testSealKey  = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	testSealKey2 = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
)

// sealConfig is a configuration whose route "list" seals cursors with seal.
func sealConfig(seal string) string {
	return `{"consumers": [{"id": "alice", "keys": [{"id": "a1", "sha256": "` + keymat.Hash(aliceKey) + `"}]},
	                       {"id": "bob", "keys": [{"id": "b1", "sha256": "` + keymat.Hash(bobKey) + `"}]}],
	  "routes": [{"name": "list", "path": "/items", "pagination": "p"},
	             {"name": "other", "path": "/others", "pagination": "p"}],
	  "pagination": {"p": {"cursor_param": "cursor", "max_cursor_length": 512, "cursor_seal": ` + seal + `}}}`
}

var (
	aliceKey = "agk_alice"
	bobKey   = "agk_bob"
)

func TestCursorSealConfigErrors(t *testing.T) {
	tests := []struct{ name, seal, want string }{
		{"nothing to seal", `{"key": "` + testSealKey + `"}`, "pagination.p.cursor_seal: must seal something: response_fields, link_header or both"},
		{"no key", `{"link_header": true}`, "pagination.p.cursor_seal.key_env: is required (or key, for tests)"},
		{"both keys", `{"link_header": true, "key": "` + testSealKey + `", "key_env": "K"}`, "pagination.p.cursor_seal.key: must not be given with key_env"},
		{"bad key", `{"link_header": true, "key": "abc"}`, "pagination.p.cursor_seal.key: must be a 256-bit key: 64 hex digits or 43 base64url characters"},
		{"bad env", `{"link_header": true, "key_env": "1X"}`, `pagination.p.cursor_seal.key_env: must be an environment variable name (letters, digits and _, not starting with a digit), got "1X"`},
		{"wildcard", `{"response_fields": ["items.#.id"], "key": "` + testSealKey + `"}`, `pagination.p.cursor_seal.response_fields[0]: must be a field path such as "next_cursor" or "paging.next" (dots between names, no wildcards or queries), got "items.#.id"`},
		{"lifetime", `{"link_header": true, "key": "` + testSealKey + `", "lifetime": "1y"}`, `pagination.p.cursor_seal.lifetime: must be a duration between 1s and 720h such as "1h", got "1y"`},
		{"max_body", `{"link_header": true, "key": "` + testSealKey + `", "max_body": 0}`, "pagination.p.cursor_seal.max_body: must be between 1 and 16777216, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]byte(sealConfig(tt.seal)))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile = %v, want a ConfigError", err)
			}
			var got []string
			for _, fe := range ce.Errors {
				got = append(got, fe.Error())
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("errors %q, want [%q]", got, tt.want)
			}
		})
	}
	_, err := Compile([]byte(`{"routes": [{"name": "r", "path": "/x", "pagination": "p"}], "consumers": [],
		"pagination": {"p": {"limit_param": "limit", "max_limit": 10, "cursor_seal": {"link_header": true, "key": "` + testSealKey + `"}}}}`))
	if err == nil || !strings.Contains(err.Error(), "pagination.p.cursor_seal: needs cursor_param") {
		t.Errorf("seal without cursor_param: %v", err)
	}
	p := mustCompile(t, sealConfig(`{"link_header": true, "key": "`+testSealKey+`"}`))
	if w := p.Warnings(); len(w) != 1 || w[0].Path != "pagination.p.cursor_seal.key" || !strings.Contains(w[0].Msg, "for tests only") {
		t.Errorf("warnings = %v, want the inline key's", w)
	}
}

// sealed returns a token for cursor as route "list" seals it for alice.
func sealed(t *testing.T, s *CursorSeal, cursor, route, consumer string, at time.Time) string {
	t.Helper()
	tok, err := s.Seal(cursor, route, consumer, at)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCursorSealOpen(t *testing.T) {
	p := mustCompile(t, sealConfig(`{"response_fields": ["next"], "key": "`+testSealKey+`", "lifetime": "10m"}`))
	s := p.CursorSeals()[0]
	tok := sealed(t, s, "id>10234 &x", "list", "alice", now)
	if got, ok := s.Open(tok, "list", "alice", now.Add(9*time.Minute)); !ok || got != "id>10234 &x" {
		t.Fatalf("Open = %q, %v", got, ok)
	}
	for name, open := range map[string]func() bool{
		"another consumer": func() bool { _, ok := s.Open(tok, "list", "bob", now); return ok },
		"another route":    func() bool { _, ok := s.Open(tok, "other", "alice", now); return ok },
		"expired":          func() bool { _, ok := s.Open(tok, "list", "alice", now.Add(10*time.Minute)); return ok },
		"truncated":        func() bool { _, ok := s.Open(tok[:len(tok)-1], "list", "alice", now); return ok },
		"raw cursor":       func() bool { _, ok := s.Open("10234", "list", "alice", now); return ok },
	} {
		if open() {
			t.Errorf("%s: opened", name)
		}
	}
	// Every byte of the token matters: version, nonce, ciphertext, tag.
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x01
		if _, ok := s.Open(base64.RawURLEncoding.EncodeToString(bad), "list", "alice", now); ok {
			t.Errorf("flipping byte %d: opened", i)
		}
	}
}

func TestCursorSealRotation(t *testing.T) {
	old := mustCompile(t, sealConfig(`{"link_header": true, "key": "`+testSealKey+`"}`)).CursorSeals()[0]
	rotated := mustCompile(t, sealConfig(`{"link_header": true, "key": "`+testSealKey2+`", "previous_key": "`+testSealKey+`"}`)).CursorSeals()[0]
	done := mustCompile(t, sealConfig(`{"link_header": true, "key": "`+testSealKey2+`"}`)).CursorSeals()[0]
	tok := sealed(t, old, "c1", "list", "alice", now)
	if got, ok := rotated.Open(tok, "list", "alice", now); !ok || got != "c1" {
		t.Errorf("the previous key does not open during the rotation: %q %v", got, ok)
	}
	if _, ok := done.Open(tok, "list", "alice", now); ok {
		t.Error("the retired key still opens")
	}
	if _, ok := old.Open(sealed(t, rotated, "c2", "list", "alice", now), "list", "alice", now); ok {
		t.Error("the rotation seals with the previous key")
	}
}

func TestCursorSealBindKeys(t *testing.T) {
	p := mustCompile(t, sealConfig(`{"link_header": true, "key_env": "CUR", "previous_key_env": "PREV"}`))
	err := p.BindCursorKeys(func(name string) (string, bool) {
		if name == "CUR" {
			return base64.RawURLEncoding.EncodeToString(make([]byte, 32)), true
		}
		return "", false
	})
	want := `pagination.p.cursor_seal.previous_key_env: environment variable "PREV" is not set in the VM (Envoy: vm_config.environment_variables)`
	if err == nil || err.Error() != want {
		t.Errorf("BindCursorKeys = %v, want %s", err, want)
	}
	env := map[string]string{"CUR": testSealKey, "PREV": "short"}
	err = p.BindCursorKeys(func(n string) (string, bool) { v, ok := env[n]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), `"PREV" does not hold a 256-bit key`) {
		t.Errorf("BindCursorKeys = %v", err)
	}
	env["PREV"] = testSealKey2
	if err := p.BindCursorKeys(func(n string) (string, bool) { v, ok := env[n]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	s := p.CursorSeals()[0]
	if _, ok := s.Open(sealed(t, s, "x", "list", "alice", now), "list", "alice", now); !ok {
		t.Error("bound key does not round-trip")
	}
	// CompileWith reads the keys while compiling, and reports a missing one
	// with every other problem.
	cfg := sealConfig(`{"link_header": true, "key_env": "CUR", "previous_key_env": "PREV", "lifetime": "1y"}`)
	_, err = CompileWith([]byte(cfg), Options{LookupEnv: func(n string) (string, bool) { v, ok := map[string]string{"CUR": testSealKey}[n]; return v, ok }})
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Errors) != 2 || ce.Errors[0].Path != "pagination.p.cursor_seal.lifetime" ||
		ce.Error() == "" || !strings.Contains(ce.Errors[1].Error(), `pagination.p.cursor_seal.previous_key_env: environment variable "PREV" is not set`) {
		t.Errorf("CompileWith = %v", err)
	}
	bound, err := CompileWith([]byte(sealConfig(`{"link_header": true, "key_env": "CUR"}`)),
		Options{LookupEnv: func(n string) (string, bool) { return testSealKey, n == "CUR" }})
	if err != nil {
		t.Fatal(err)
	}
	bs := bound.CursorSeals()[0]
	if _, ok := bs.Open(sealed(t, bs, "y", "list", "alice", now), "list", "alice", now); !ok {
		t.Error("a key bound by CompileWith does not round-trip")
	}
}

func TestCursorSealDecide(t *testing.T) {
	p := mustCompile(t, sealConfig(`{"response_fields": ["next"], "key": "`+testSealKey+`"}`))
	s := p.CursorSeals()[0]
	tok := sealed(t, s, "a b/c", "list", "alice", now)
	d := p.Decide(get("/items?cursor="+tok+"&x=1", "x-api-key", aliceKey))
	if !d.Allow || d.Upstream.NewPath != "/items?cursor=a%20b%2Fc&x=1" || d.CursorSeal != s {
		t.Fatalf("decision %+v", d)
	}
	for name, r := range map[string]Request{
		"raw cursor":       get("/items?cursor=10234", "x-api-key", aliceKey),
		"another consumer": get("/items?cursor="+tok, "x-api-key", bobKey),
		"another route":    get("/others?cursor="+tok, "x-api-key", aliceKey),
	} {
		d := p.Decide(r)
		if d.Allow || d.Reason != ReasonBadPagination || d.Problem.Detail != `parameter "cursor" is not a cursor this API issued for this route, or it has expired` {
			t.Errorf("%s: %v %s %q", name, d.Allow, d.Reason, d.Problem.Detail)
		}
	}
	if d := p.Decide(get("/items", "x-api-key", aliceKey)); !d.Allow || d.CursorSeal != s || d.Upstream.NewPath != "" {
		t.Errorf("first page: %+v", d)
	}
	// Shadow mode seals and opens nothing: the cursor goes upstream as sent.
	shadow := mustCompile(t, strings.Replace(sealConfig(`{"response_fields": ["next"], "key": "`+testSealKey+`"}`), `{"consumers"`, `{"mode": "shadow", "consumers"`, 1))
	if d := shadow.Decide(get("/items?cursor=10234", "x-api-key", aliceKey)); !d.Allow || d.CursorSeal != nil {
		t.Errorf("shadow: %+v", d)
	}
}

func TestCursorSealBody(t *testing.T) {
	p := mustCompile(t, sealConfig(`{"response_fields": ["next_cursor", "paging.next", "missing"], "key": "`+testSealKey+`"}`))
	s := p.CursorSeals()[0]
	body := []byte(`{"items": [1, 2], "next_cursor": "c\"10", "paging": {"prev": "p9", "next": "n11"}}`)
	out, n, err := s.SealBody(body, "list", "alice", now)
	if err != nil || n != 2 {
		t.Fatalf("SealBody = %d, %v", n, err)
	}
	var doc struct {
		Items      []int
		NextCursor string `json:"next_cursor"`
		Paging     struct{ Prev, Next string }
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("sealed body is not JSON: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(doc.Items, []int{1, 2}) || doc.Paging.Prev != "p9" {
		t.Errorf("other fields changed: %s", out)
	}
	for tok, want := range map[string]string{doc.NextCursor: `c"10`, doc.Paging.Next: "n11"} {
		if got, ok := s.Open(tok, "list", "alice", now); !ok || got != want {
			t.Errorf("Open(%q) = %q, %v; want %q", tok, got, ok, want)
		}
	}
	if out, n, err := s.SealBody([]byte(`{"next_cursor": null}`), "list", "alice", now); err != nil || n != 0 || string(out) != `{"next_cursor": null}` {
		t.Errorf("null cursor: %s %d %v", out, n, err)
	}
	for body, want := range map[string]string{
		`{"next_cursor": 10234}`: `response field "next_cursor" is not a string`,
		`{"next_cursor": "x"`:    "the response body is not valid JSON",
		`<html>`:                 "the response body is not valid JSON",
	} {
		if _, _, err := s.SealBody([]byte(body), "list", "alice", now); err == nil || err.Error() != want {
			t.Errorf("SealBody(%s) = %v, want %s", body, err, want)
		}
	}
}

func TestCursorSealLink(t *testing.T) {
	s := mustCompile(t, sealConfig(`{"link_header": true, "key": "`+testSealKey+`"}`)).CursorSeals()[0]
	in := `<https://api.example.com/items?limit=10&cursor=abc%2B1#top>; rel="next", <https://api.example.com/items?limit=10>; rel="first"`
	out, n, err := s.SealLink(in, "list", "alice", now)
	if err != nil || n != 1 {
		t.Fatalf("SealLink = %q %d %v", out, n, err)
	}
	pre, post := "<https://api.example.com/items?limit=10&cursor=", `#top>; rel="next", <https://api.example.com/items?limit=10>; rel="first"`
	if !strings.HasPrefix(out, pre) || !strings.HasSuffix(out, post) {
		t.Fatalf("SealLink = %q", out)
	}
	if got, ok := s.Open(strings.TrimSuffix(strings.TrimPrefix(out, pre), post), "list", "alice", now); !ok || got != "abc+1" {
		t.Errorf("opened %q %v", got, ok)
	}
}
