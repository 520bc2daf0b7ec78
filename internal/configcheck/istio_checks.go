package configcheck

import (
	"regexp"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
)

// badFields holds the top-level fields of a mapping that did not decode,
// as spelt in the file.
type badFields map[string]bool

// any reports whether one of the spellings of a field did not decode.
func (b badFields) any(names ...string) bool {
	for _, n := range names {
		if b[n] {
			return true
		}
	}
	return false
}

// decodeEachField decodes the mapping v (at path) into msg one top-level
// field at a time, so that every wrong field is reported, not only the
// first protojson meets; suggestions use the JSON (camelCase) field names
// a Kubernetes manifest is written in. The fields that decode are decoded
// into msg, so that later checks can still look at them; the others are
// returned, for those checks to leave alone.
func decodeEachField(t *tree, v any, path string, msg proto.Message) ([]Problem, badFields) {
	obj, ok := v.(map[string]any)
	if !ok {
		return camelSuggestions(decodeStrict(t, v, path, msg)), badFields{}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var probs []Problem
	bad := badFields{}
	good := make(map[string]any, len(obj))
	for _, k := range keys {
		fresh := msg.ProtoReflect().New().Interface()
		if p := decodeStrict(t, map[string]any{k: obj[k]}, path, fresh); len(p) > 0 {
			probs = append(probs, p...)
			bad[k] = true
			continue
		}
		good[k] = obj[k]
	}
	probs = append(probs, decodeStrict(t, good, path, msg)...)
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
	return camelSuggestions(probs), bad
}

var (
	snakeSuggestion = regexp.MustCompile(`did you mean "([a-z0-9]+(?:_[a-z0-9]+)+)"\?`)
	unknownField    = regexp.MustCompile(`^unknown field "([^"]+)"`)
)

// camelSuggestions rewrites "did you mean "image_pull_policy"?" as
// "did you mean "imagePullPolicy"?": protobuf's JSON name, which is what a
// manifest uses, unless the unknown field itself was written in snake_case.
func camelSuggestions(probs []Problem) []Problem {
	for i := range probs {
		if m := unknownField.FindStringSubmatch(probs[i].Msg); m != nil && strings.Contains(m[1], "_") {
			continue // written in snake_case (protojson reads both): answer in kind
		}
		probs[i].Msg = snakeSuggestion.ReplaceAllStringFunc(probs[i].Msg, func(m string) string {
			name := snakeSuggestion.FindStringSubmatch(m)[1]
			parts := strings.Split(name, "_")
			for j := 1; j < len(parts); j++ {
				if parts[j] != "" {
					parts[j] = strings.ToUpper(parts[j][:1]) + parts[j][1:]
				}
			}
			return `did you mean "` + strings.Join(parts, "") + `"?`
		})
	}
	return probs
}

var lowerHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// istioSpecChecks checks what Istio's own validation of a WasmPlugin
// refuses and the decoding does not (istio/istio
// pkg/config/validation/validation.go, ValidateWasmPlugin): selector
// together with targetRef(s), a sha256 that is not 64 lowercase hex digits;
// and warns about a module fetched over the network without a sha256.
// Fields in bad did not decode and are not judged again.
func istioSpecChecks(t *tree, spec any, wp *extensionsv1alpha1.WasmPlugin, bad badFields) []Problem {
	var probs []Problem
	at := func(warning bool, path, msg string) {
		probs = append(probs, Problem{Path: path, Line: t.line(path), Msg: msg, Warning: warning})
	}
	if wp.GetSelector() != nil && (len(wp.GetTargetRefs()) > 0 || wp.GetTargetRef() != nil) {
		at(false, pathOf(spec, "spec", "targetRefs", "target_refs", "targetRef", "target_ref"),
			"selector and targetRefs are both set: Istio accepts only one of them (selector for sidecars by "+
				"workload label, targetRefs for a Gateway or Service)")
	}
	sum := wp.GetSha256()
	if sum != "" && !lowerHex64.MatchString(sum) {
		at(false, "spec.sha256", "sha256 must be 64 lowercase hex digits")
	}
	if bad.any("url", "sha256") {
		return probs // already reported; a pin cannot be judged
	}
	url := wp.GetUrl()
	remote := hasAnyPrefix(url, "https://", "http://", "oci://")
	pinned := sum != "" || strings.HasPrefix(url, "oci://") && strings.Contains(url, "@sha256:")
	if remote && !pinned {
		what := "the module's sha256"
		if strings.HasPrefix(url, "oci://") {
			what = "the image's manifest digest (make oci prints it), as spec.sha256 or url ...@sha256:<digest>"
		}
		at(true, pathOf(spec, "spec", "url"), "the module is fetched without sha256: every proxy runs whatever "+
			url+" serves when it fetches; pin "+what)
	}
	return probs
}
