package configcheck

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/apiguard/apiguard/policy"
)

// Access-log formats that read apiguard's filter state (docs/logging.md).
// apiguard sets one property, policy.StateKey, to a JSON object with
// proxy_set_property; Envoy names it "wasm.apiguard" and keeps it as a
// CelState of bytes, for the downstream request only (envoyproxy/envoy
// source/extensions/common/wasm/context.cc, Context::setProperty, at
// b40935a). So a format may name that key and no other below it, read it
// with FILTER_STATE, not UPSTREAM_FILTER_STATE, and as PLAIN: TYPED
// (FILTER_STATE's default, source/common/formatter/stream_info_formatter.cc
// FilterStateFormatter::create) prints a protobuf Any of the bytes, and
// FIELD finds nothing, as a CelState has no fields
// (source/extensions/filters/common/expr/cel_state.h at 8b9304c). In CEL
// (%CEL(…)%, access-log filters, Istio's expressions)
// filter_state['wasm.apiguard'] is the record as bytes, without fields.

// apiguardState is apiguard's filter-state key in Envoy.
const apiguardState = policy.FilterStatePrefix + policy.StateKey

var (
	// filterStateCommand is %FILTER_STATE(ARGS)% or
	// %UPSTREAM_FILTER_STATE(ARGS)%, with an optional :LENGTH.
	filterStateCommand = regexp.MustCompile(`%(UPSTREAM_)?FILTER_STATE\(([^)]*)\)(?::[0-9]+)?%`)
	// celFilterState is a CEL index into filter_state or
	// upstream_filter_state with a string literal, and what selects a
	// field of the result (.name or ['name']), if anything.
	celFilterState = regexp.MustCompile(`\b(upstream_)?filter_state\s*\[\s*(?:'([^']*)'|"([^"]*)")\s*\](\s*(?:\.\s*[A-Za-z_]\w*|\[\s*['"][^'"]*['"]\s*\]))?`)
)

// stateProblems returns the problems of the references to apiguard's filter
// state in text, one string of an access-log configuration: errors (a key
// apiguard does not set, a read that always finds nothing) and warnings (a
// read that prints something else than the record).
func stateProblems(text string) (errs, warns []string) {
	for _, m := range filterStateCommand.FindAllStringSubmatch(text, -1) {
		upstream, args := m[1] != "", m[2]
		key, rest, _ := strings.Cut(args, ":")
		if !inApiguardNamespace(key) {
			continue
		}
		if key != apiguardState {
			errs = append(errs, fmt.Sprintf("%s: %s", m[0], unknownStateKey(key)))
			continue
		}
		serialize, _, _ := strings.Cut(rest, ":")
		switch {
		case upstream:
			errs = append(errs, fmt.Sprintf("%s: apiguard sets %s in the downstream request's filter state; "+
				"UPSTREAM_FILTER_STATE never has it: use %%FILTER_STATE(%s:PLAIN)%%", m[0], key, key))
		case serialize == "FIELD":
			errs = append(errs, fmt.Sprintf("%s: %s is a string to Envoy (a Wasm filter's CelState has no fields), "+
				"so FIELD always finds nothing: print %%FILTER_STATE(%s:PLAIN)%% and read its JSON fields where the log is parsed",
				m[0], key, key))
		case serialize == "" || serialize == "TYPED":
			warns = append(warns, fmt.Sprintf("%s: TYPED (the default) prints %s as a protobuf Any holding its bytes "+
				"base64-encoded; use %%FILTER_STATE(%s:PLAIN)%% for the JSON record itself", m[0], key, key))
		}
	}
	for _, m := range celFilterState.FindAllStringSubmatch(text, -1) {
		key := m[2] + m[3]
		if !inApiguardNamespace(key) {
			continue
		}
		switch {
		case key != apiguardState:
			errs = append(errs, fmt.Sprintf("%s: %s", m[0], unknownStateKey(key)))
		case m[1] != "":
			errs = append(errs, fmt.Sprintf("%s: apiguard sets %s in the downstream request's filter state; "+
				"upstream_filter_state never has it: use filter_state['%s']", m[0], key, key))
		case m[4] != "":
			errs = append(errs, fmt.Sprintf("%s: filter_state['%s'] is bytes to CEL (a Wasm filter's CelState has no fields); "+
				"test the record as a string, e.g. string(filter_state['%s']).startsWith('{\"decision\":\"deny\"')",
				m[0], key, key))
		}
	}
	return errs, warns
}

// inApiguardNamespace reports whether key is, or tries to be, apiguard's:
// wasm.apiguard and anything below it.
func inApiguardNamespace(key string) bool {
	return key == apiguardState || strings.HasPrefix(key, apiguardState+".") || strings.HasPrefix(key, apiguardState+"_")
}

// unknownStateKey says why key, in apiguard's namespace, is not what
// apiguard sets.
func unknownStateKey(key string) string {
	field := strings.TrimLeft(strings.TrimPrefix(key, apiguardState), "._")
	hint := ""
	if slices.Contains(policy.StateFields(), field) {
		hint = fmt.Sprintf(": %s is a field of that record, which Envoy cannot read on its own; "+
			"print the record and read its %s where the log is parsed", field, field)
	}
	return fmt.Sprintf("apiguard sets no filter state %s; it sets one, %s, a JSON object with the fields %s%s (docs/logging.md)",
		key, apiguardState, strings.Join(policy.StateFields(), ", "), hint)
}

// accessLogStrings calls fn with every string under an access-log
// configuration of the tree (any access_log or accessLog field, and the
// logFormat of Istio's envoyFileAccessLog providers), with its path.
func accessLogStrings(v any, path string, inside bool, fn func(path, s string)) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			in := inside || k == "access_log" || k == "accessLog" || k == "envoyFileAccessLog" || k == "envoy_file_access_log"
			accessLogStrings(v[k], joinKey(path, k), in, fn)
		}
	case []any:
		for i, e := range v {
			accessLogStrings(e, fmt.Sprintf("%s[%d]", path, i), inside, fn)
		}
	case string:
		if inside {
			fn(path, v)
		}
	}
}

// accessLogProblems checks every access-log string of the tree under root
// (at path) with stateProblems.
func accessLogProblems(t *tree, root any, path string) []Problem {
	var probs []Problem
	accessLogStrings(root, path, false, func(p, s string) {
		errs, warns := stateProblems(s)
		for _, e := range errs {
			probs = append(probs, Problem{Path: p, Line: t.line(p), Msg: e})
		}
		for _, w := range warns {
			probs = append(probs, Problem{Path: p, Line: t.line(p), Msg: w, Warning: true})
		}
	})
	return probs
}
