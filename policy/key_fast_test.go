package policy

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

const sumA = "5ffc8ea5d3856d58dcdf382556b08aae2e53bd2286c96a36486ded0dfd22f2cf"

// keySamples are key objects of the common shape and around it, for
// fastKey and for the configurations compared below.
var keySamples = []string{
	`{"id": "k", "sha256": "` + sumA + `"}`,
	`{"sha256": "` + sumA + `", "id": "k", "revoked": true, "not_before": "2026-01-01T00:00:00Z", "not_after": "2027-01-01T00:00:00Z"}`,
	`{"id":"k","sha256":"` + sumA + `","revoked":false,"not_after":"2199-12-31T23:59:59Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_before": "1700-01-01T00:00:00Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_before": "1699-12-31T23:59:59Z", "not_after": "2200-01-01T00:00:00Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_before": "0001-01-01T00:00:00Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_before": "0000-01-01T00:00:00Z", "not_after": "9999-12-31T23:59:59Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_before": "2026-01-01T00:00:00+02:00"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_before": "2026-01-01T00:00:00.5Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_before": "2026-02-29T00:00:00Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_before": "2024-02-29T00:00:00Z", "not_after": "2024-02-29T00:00:00Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_before": "2026-01-01T00:00:01Z", "not_after": "2026-01-01T00:00:00Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_after": "2026-01-01T00:00:60Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_after": "2026-01-01T00:00:00z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_after": "2026-01-01T00:00:0\u0030Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_after": 1767225600}`,
	`{"id": "k", "sha256": "` + sumA + `", "not_after": null}`,
	`{"id": "k\u0041", "sha256": "` + sumA + `"}`,
	`{"id": "k\"", "sha256": "` + sumA + `"}`,
	`{"i\u0064": "k", "sha256": "` + sumA + `"}`,
	`{"id": "k", "sha256": "` + strings.ToUpper(sumA) + `"}`,
	`{"id": "k", "sha256": "` + sumA[:63] + `"}`,
	`{"id": "k", "sha256": "` + sumA + `0"}`,
	`{"id": "k", "sha256": "` + sumA[:62] + `g0"}`,
	`{"id": "k", "sha256": 1e400}`,
	`{"id": 123456789012345678901234567890, "sha256": "` + sumA + `"}`,
	`{"id": "", "sha256": "` + sumA + `"}`,
	`{"id": "a b", "sha256": "` + sumA + `"}`,
	`{"id": "é", "sha256": "` + sumA + `"}`,
	`{"id": "` + strings.Repeat("x", 256) + `", "sha256": "` + sumA + `"}`,
	`{"id": "` + strings.Repeat("x", 257) + `", "sha256": "` + sumA + `"}`,
	`{"id": "k", "id": "k2", "sha256": "` + sumA + `"}`,
	`{"id": "k", "sha256": "` + sumA + `", "sha256": "` + sumA + `"}`,
	`{"id": "k", "sha256": "` + sumA + `", "revoked": "yes"}`,
	`{"id": "k", "sha256": "` + sumA + `", "revoked": true, "revoked": true}`,
	`{"id": "k", "sha256": "` + sumA + `", "notafter": "2027-01-01T00:00:00Z"}`,
	`{"id": "k", "sha256": "` + sumA + `", "extra": {"a": [1]}}`,
	`{"id": "k", "sha256": "` + sumA + `", "_rules_": []}`,
	`{"id": "k"}`, `{"sha256": "` + sumA + `"}`, `{}`, `[]`, `"k"`, `null`, `{"id": ["k"], "sha256": {}}`,
}

// TestFastKeyKnowsKeyFields: fastKey reads exactly keyFields' members,
// and a key of its shape with only the required members reads as the
// generic reading, defaults included, reads it.
func TestFastKeyKnowsKeyFields(t *testing.T) {
	names := keyFields.names()
	slices.Sort(names)
	fast := slices.Clone(fastKeyNames)
	slices.Sort(fast)
	if !slices.Equal(names, fast) {
		t.Fatalf("keyFields name %v, fastKey reads %v", names, fast)
	}
	values := map[string]string{"id": `"k"`, "sha256": `"` + sumA + `"`, "revoked": "true",
		"not_before": `"2026-01-01T00:00:00Z"`, "not_after": `"2027-01-01T00:00:00Z"`}
	for _, f := range keyFields.fields {
		raw := `{"id": "k", "sha256": "` + sumA + `"}`
		if !f.required {
			raw = `{"id": "k", "sha256": "` + sumA + `", "` + f.name + `": ` + values[f.name] + `}`
		}
		if _, ok := (&parser{}).fastKey(raw); !ok {
			t.Errorf("fastKey does not read %s", raw)
		}
		checkFastKey(t, raw)
	}
}

// TestFastKeyAgreesWithGeneric: wherever fastKey reads a key, it reads it
// as the generic reading through keyFields does, which finds no problem.
func TestFastKeyAgreesWithGeneric(t *testing.T) {
	for _, raw := range keySamples {
		checkFastKey(t, raw)
	}
}

func FuzzFastKey(f *testing.F) {
	for _, raw := range keySamples {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if gjson.Valid(raw) && nestingDepth([]byte(raw)) <= maxDepth {
			checkFastKey(t, raw)
		}
	})
}

func checkFastKey(t *testing.T, raw string) {
	t.Helper()
	fast, ok := (&parser{}).fastKey(raw)
	ps := &parser{generic: true}
	want := ps.parseKey(jsonPath{}, gjson.Parse(raw))
	if ok && (len(ps.errs) > 0 || fast != want) {
		t.Fatalf("%s: fastKey read %+v, the generic reading %+v %v", raw, fast, want, ps.errs)
	}
}

// compareCompile compiles config with the index and fastKey and without,
// and fails unless both give the same policy, warnings and errors.
func compareCompile(t *testing.T, config []byte) {
	t.Helper()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	p1, err1 := compile(config, parser{now: unixNano(now)})
	p2, err2 := compile(config, parser{now: unixNano(now), generic: true})
	var e1, e2 *ConfigError
	errors.As(err1, &e1)
	errors.As(err2, &e2)
	if (err1 == nil) != (err2 == nil) || e1 != nil && !reflect.DeepEqual(e1.Errors, e2.Errors) {
		t.Fatalf("%.300s:\nfast:    %v\ngeneric: %v", config, err1, err2)
	}
	if p1 == nil {
		return
	}
	p1.cache, p2.cache = nil, nil
	if !reflect.DeepEqual(p1, p2) {
		t.Fatalf("%.300s: the policies differ (warnings %v and %v)", config, p1.Warnings(), p2.Warnings())
	}
}

// configSamples are configurations around the shapes of the fast paths:
// every key sample in a consumer, and consumers and documents of other
// shapes.
func configSamples() []string {
	var out []string
	for _, k := range keySamples {
		out = append(out, `{"consumers": [{"id": "c", "keys": [`+k+`]}, {"id": "d", "keys": [{"id": "k2", "sha256": "`+
			strings.Repeat("0", 64)+`"}]}]}`)
	}
	good := func(id string) string {
		return `{"id": "` + id + `", "sha256": "` + strings.Repeat(id[len(id)-1:], 64) + `"}`
	}
	for _, keys := range []string{
		` [ ` + good("k1") + ` , ` + good("k2") + "\n]\t",
		`[` + good("k1") + `,1]`, `[` + good("k1") + `, null, ` + good("k2") + `]`, `[` + good("k1") + `, []]`,
		`[` + good("k1") + `, ` + keySamples[17] + `]`, `[` + good("k1") + `, ` + good("k1") + `]`,
		`[` + good("k1") + `, ` + keySamples[11] + `, ` + good("k2") + `]`, `[]`, `[ ]`, `["` + good("k1") + `"]`,
	} {
		out = append(out, `{"consumers": [{"id": "c", "keys": `+keys+`}]}`)
	}
	for _, c := range consumerSamples {
		out = append(out, `{"rate_limits": {"gold": {"requests": 1, "per": "1s"}}, "consumers": [`+c+`, {"id": "d", "rate_limit": "none", "keys": [`+
			good("k9")+`]}]}`)
	}
	return append(out,
		`{"consumers": [{"id": "c", "keys": [{"id": "k", "sha256": "`+sumA+`"}, {"id": "k", "sha256": "`+sumA+`"}]}]}`,
		`{"consumers": [{"id": "c", "keys": []}, {"id": "c", "keys": {}}, {"id": "e", "keys": [1, null, []]}]}`,
		`{"consumers": [{"id": "c", "scopes": ["a", "a", "b c"], "keys": [{"id": "k", "sha256": "`+sumA+`"}]}], "consumers": []}`,
		`{"consumers": {}, "consumer": [], "routes": [{"name": "r", "path": "/", "scopes": ["x"]}]}`,
		`{"consumers": [{"id": "c", "rate_limit": "nope", "quota": 7, "keyz": [], "keys": [{"id": "k", "sha256": "`+sumA+`", "not_after": "2026-01-01T00:00:00Z"}]}]}`,
		`{"mode": "shadow", "consumers": [{"id": "c", "keys": [{"id": "k", "sha256": "`+sumA+`"}]}], "key_store": {}}`,
		`{"anonymous_buckets": 1e400, "consumers": [], "rate_limits": {"a": {"requests": 123456789012345678901234567890, "per": "1s"}}}`,
		`{"hide_credentials": "true", "log_allowed": 1, "unmatched": "\u0064eny", "forward": {"consumer": "x-\u0063"}}`,
		fuzzPolicy,
	)
}

// TestCompileFastAgreesWithGeneric: the index and the fast path of keys
// change nothing a configuration compiles to, nor any message or path.
func TestCompileFastAgreesWithGeneric(t *testing.T) {
	for _, s := range configSamples() {
		compareCompile(t, []byte(s))
	}
	config, _, _ := benchConfig(t, 1000, 20)
	compareCompile(t, config)
}

func FuzzCompileFastAgreesWithGeneric(f *testing.F) {
	for _, s := range configSamples() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, config []byte) { compareCompile(t, config) })
}

// TestFastConsumerKnowsConsumerFields: fastConsumer reads exactly
// consumerFields' members, and reads a consumer with each of them as the
// generic reading does.
func TestFastConsumerKnowsConsumerFields(t *testing.T) {
	names := consumerFields.names()
	slices.Sort(names)
	fast := slices.Clone(fastConsumerNames)
	slices.Sort(fast)
	if !slices.Equal(names, fast) {
		t.Fatalf("consumerFields name %v, fastConsumer reads %v", names, fast)
	}
	values := map[string]string{"scopes": `["a", "b"]`, "rate_limit": `"gold"`, "quota": `"q"`, "keys": `[` + keySamples[0] + `]`}
	for _, f := range consumerFields.fields {
		raw := `{"id": "c"}`
		if !f.required {
			raw = `{"id": "c", "` + f.name + `": ` + values[f.name] + `}`
		}
		path := jsonPath{}.member("consumers").elem(3)
		fast, ok := (&parser{}).fastConsumer(path, gjson.Parse(raw))
		if !ok {
			t.Errorf("fastConsumer does not read %s", raw)
		}
		ps := &parser{generic: true}
		if want := ps.parseConsumer(path, gjson.Parse(raw)); len(ps.errs) > 0 || !reflect.DeepEqual(fast, want) {
			t.Errorf("%s: fastConsumer read %+v, the generic reading %+v %v", raw, fast, want, ps.errs)
		}
	}
}

// consumerSamples are consumers of the common shape and around it.
var consumerSamples = []string{
	`{"id": "c", "scopes": ["a", "b:c"], "rate_limit": "gold", "quota": "q", "keys": [` + keySamples[0] + `]}`,
	`{ "keys" : [` + keySamples[1] + `] , "id" : "c" , "scopes" : [ ] }`,
	`{"id": "c", "scopes": ["a", "a"], "keys": [` + keySamples[0] + `]}`,
	`{"id": "c", "scopes": ["a b"], "keys": [` + keySamples[0] + `]}`,
	`{"id": "c", "scopes": ["\u0061"], "keys": [` + keySamples[0] + `]}`,
	`{"id": "c", "scopes": "a", "keys": [` + keySamples[0] + `]}`,
	`{"id": "c", "scopes": [1], "keys": [` + keySamples[0] + `]}`,
	`{"id": "c", "rate_limit": "", "quota": "", "keys": [` + keySamples[0] + `]}`,
	`{"id": "c", "rate_limit": 5, "keys": [` + keySamples[0] + `]}`,
	`{"id": "c", "rate_limit": "g\"x", "keys": [` + keySamples[0] + `]}`,
	`{"id": "c", "id": "d", "keys": [` + keySamples[0] + `]}`,
	`{"id": "c", "keys": [` + keySamples[0] + `], "keys": [` + keySamples[0] + `]}`,
	`{"id": "c", "key": [` + keySamples[0] + `]}`,
	`{"id": "c b", "keys": [` + keySamples[0] + `]}`,
	`{"id": "c\u0041", "keys": [` + keySamples[0] + `]}`,
	`{"scopes": [], "keys": [` + keySamples[0] + `]}`,
	`{"id": "c", "keys": [` + keySamples[0] + `, ` + keySamples[3] + `, ` + keySamples[17] + `]}`,
	`{"id": "c", "keys": {}}`, `{"id": "c", "keys": []}`, `{"id": "c"}`, `{}`, `[]`, `"c"`,
}
