package policy

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"runtime"
	"sort"
	"testing"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/apiguard/apiguard/policy/keymat"
)

// TestCompileDoesNotRetainConfig overwrites the configuration after Compile:
// the policy must not change, as none of its strings share the text's memory.
func TestCompileDoesNotRetainConfig(t *testing.T) {
	data, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Compile(bytes.Clone(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Compile(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = '#'
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("the policy changed when its configuration was overwritten")
	}
}

// TestParsedConfigDoesNotRetainText checks what lets Compile free the text
// before building the tables: once parsed, the configuration (including the
// JSON paths kept for later errors) holds no pointer into the text.
func TestParsedConfigDoesNotRetainText(t *testing.T) {
	data, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	freed := make(chan struct{})
	c := func() *config {
		text := bytes.Clone(data) // an allocation of its own, for the finalizer
		runtime.SetFinalizer(&text[0], func(*byte) { close(freed) })
		ps := &parser{}
		c := ps.parseConfig(gjson.Parse(unsafe.String(unsafe.SliceData(text), len(text))))
		if len(ps.errs) > 0 {
			t.Fatal(ps.errs)
		}
		return c
	}()
	for deadline := time.Now().Add(5 * time.Second); ; {
		runtime.GC()
		select {
		case <-freed:
			runtime.KeepAlive(c)
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the text is still reachable from the parsed configuration")
		}
	}
}

// TestConfigSeed: equal texts give equal seeds (every VM of a configuration
// must agree on slots and partition keys); a change anywhere, including in
// the last partial word or the length, gives another seed.
func TestConfigSeed(t *testing.T) {
	base := []byte(`{"consumers": [], "routes": [], "anonymous_buckets": 4096}`)
	seed := configSeed(base)
	if configSeed(bytes.Clone(base)) != seed {
		t.Fatal("equal configurations, different seeds")
	}
	seen := map[uint64]int{seed: -1}
	for i := range base {
		changed := bytes.Clone(base)
		changed[i] ^= 0x20
		s := configSeed(changed)
		if j, dup := seen[s]; dup {
			t.Errorf("flipping byte %d gives the seed of %d", i, j)
		}
		seen[s] = i
	}
	if configSeed(append(bytes.Clone(base), ' ')) == seed {
		t.Error("a trailing space does not change the seed")
	}
}

func TestWarnings(t *testing.T) {
	key := keymat.Hash("secret")
	tests := []struct {
		name, config string
		want         []string
	}{
		{"none", `{"consumers": [{"id": "c", "scopes": ["a"], "keys": [{"id": "k", "sha256": "` + key + `"}]}],
			"routes": [{"name": "r", "path": "/r", "scopes": ["a"]}, {"name": "h", "path": "/h", "public": true}]}`, nil},
		{"ungranted scope", `{"consumers": [{"id": "c", "scopes": ["a"], "keys": [{"id": "k", "sha256": "` + key + `"}]}],
			"routes": [{"name": "r", "path": "/r", "scopes": ["a", "b"]}]}`,
			[]string{`routes[0].scopes[1]: no consumer is granted scope "b": every request to this route will be denied (403)`}},
		{"consumer without keys", `{"consumers": [{"id": "c", "scopes": ["a"], "keys": [{"id": "k", "sha256": "` + key + `"}]}, {"id": "d", "scopes": ["a"]}],
			"routes": [{"name": "r", "path": "/r", "scopes": ["a"]}]}`,
			[]string{`consumers[1].keys: consumer "d" has no keys: it can never be authenticated`}},
		{"lower-case method", `{"unmatched": "allow_authenticated", "routes": [{"name": "r", "path": "/r", "methods": ["get", "POST"]}]}`,
			[]string{`routes[0].methods[0]: method "get" never matches a standard request: methods are case-sensitive and clients send "GET"`}},
		{"unused policy and profile", `{"unmatched": "allow_authenticated",
			"rate_limits": {"used": {"requests": 1, "per": "1s"}, "spare": {"requests": 1, "per": "1s"}, "dflt": {"requests": 1, "per": "1s"}},
			"default_rate_limit": "dflt",
			"pagination": {"p": {"limit_param": "l", "max_limit": 5}, "q": {"limit_param": "l", "max_limit": 5}},
			"routes": [{"name": "r", "path": "/r", "rate_limit": "used", "pagination": "p"}]}`,
			[]string{`rate_limits.spare: rate limit policy "spare" is not used by any route, consumer or default_rate_limit`,
				`pagination.q: pagination profile "q" is not used by any route`}},
		{"expired key, without a time", `{"unmatched": "allow_authenticated", "consumers": [{"id": "c", "keys": [{"id": "k", "sha256": "` + key + `", "not_after": "2020-01-01T00:00:00Z"}]}]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, w := range mustCompile(t, tt.config).Warnings() {
				got = append(got, w.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("warnings %q, want %q", got, tt.want)
			}
		})
	}
}

// TestKeyTableHoldsNoPointers guards what keeps garbage collections short
// in a worker with many keys: the per-key structures hold no pointer, so a
// collection does not mark them (100k keys: 9 ms instead of 30 ms for the
// request that finishes a collection).
func TestKeyTableHoldsNoPointers(t *testing.T) {
	var hasPointers func(reflect.Type) bool
	hasPointers = func(t reflect.Type) bool {
		switch t.Kind() {
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return true
		case reflect.Array:
			return hasPointers(t.Elem())
		case reflect.Struct:
			for i := range t.NumField() {
				if hasPointers(t.Field(i).Type) {
					return true
				}
			}
		}
		return false
	}
	index := reflect.TypeFor[sumIndex]()
	for i := range index.NumField() {
		if f := index.Field(i); f.Type.Kind() == reflect.Slice && hasPointers(f.Type.Elem()) {
			t.Errorf("sumIndex.%s is %v: its elements must hold no pointers", f.Name, f.Type)
		}
	}
	if e := reflect.TypeFor[keyEntry](); hasPointers(e) {
		t.Errorf("keyEntry holds a pointer: %+v", e)
	}
}

func TestCompileAtWarnsAboutExpiredKeys(t *testing.T) {
	config := `{"unmatched": "allow_authenticated", "consumers": [{"id": "c", "keys": [
		{"id": "old", "sha256": "` + keymat.Hash("a") + `", "not_after": "2026-01-01T00:00:00Z"},
		{"id": "current", "sha256": "` + keymat.Hash("b") + `", "not_after": "2027-01-01T00:00:00Z"},
		{"id": "forever", "sha256": "` + keymat.Hash("c") + `"}]}]}`
	p, err := CompileAt([]byte(config), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range p.Warnings() {
		got = append(got, w.Error())
	}
	want := []string{`consumers[0].keys[0].not_after: key "old" has already expired: every request with it is denied (401 expired); remove it once its use has stopped showing in the logs`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
}

// TestNoCascadingErrors: an error whose only cause is another error is not
// reported; each problem is reported once, where it is.
func TestNoCascadingErrors(t *testing.T) {
	tests := []struct {
		name, config string
		want         []string
	}{
		{"misspelt rate_limits", `{"rate_limit": {"default": {"requests": 1, "per": "1s"}}, "default_rate_limit": "default",
			"consumers": [{"id": "c", "rate_limit": "default", "keys": []}],
			"routes": [{"name": "r", "path": "/r", "rate_limit": "default"}, {"name": "s", "path": "/s", "rate_limit": "default"}]}`,
			[]string{`rate_limit: unknown field (did you mean "rate_limits"?)`}},
		{"rate_limits not an object", `{"rate_limits": [], "routes": [{"name": "r", "path": "/r", "rate_limit": "default"}]}`,
			[]string{"rate_limits: must be an object, got array"}},
		{"broken policy", `{"rate_limits": {"default": 5}, "routes": [{"name": "r", "path": "/r", "rate_limit": "default"}]}`,
			[]string{"rate_limits.default: must be an object, got number"}},
		{"misspelt pagination", `{"paginaton": {"p": {"limit_param": "l", "max_limit": 5}}, "routes": [{"name": "r", "path": "/r", "pagination": "p"}]}`,
			[]string{`paginaton: unknown field (did you mean "pagination"?)`}},
		{"still reported without a cause", `{"rate_limits": {"a": {"requests": 1, "per": "1s"}}, "routes": [{"name": "r", "path": "/r", "rate_limit": "b", "pagination": "p"}]}`,
			[]string{`routes[0].pagination: unknown profile "p"`, `routes[0].rate_limit: unknown rate limit policy "b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]byte(tt.config))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile = %v, want a ConfigError", err)
			}
			var got []string
			for _, fe := range ce.Errors {
				got = append(got, fe.Error())
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors %q, want %q", got, tt.want)
			}
		})
	}
}
