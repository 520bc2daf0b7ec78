package configcheck

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apiguard/apiguard/policy"
)

// ValidatePluginConfig checks an apiguard JSON configuration: every error
// policy.Compile reports, with its JSON path and line (or, when it compiles,
// the policy's warnings, marked Warning), and duplicate keys
// (which JSON readers resolve differently, so the one a human reads may not
// be the one the filter uses).
func ValidatePluginConfig(data []byte) []Problem {
	return validatePluginConfig(data, nil)
}

// validatePluginConfig is ValidatePluginConfig, with the key snapshot of
// EnvoyOptions.KeySnapshot (nil for none).
func validatePluginConfig(data, snapshot []byte) []Problem {
	probs := pluginProblems(data, snapshot)
	if t, _ := parseTree(data); t != nil {
		for i := range probs {
			probs[i].Line = t.line(probs[i].Path)
		}
	}
	return probs
}

// now is the time keys are checked against for having expired (a variable
// for tests).
var now = time.Now

// pluginProblems compiles a plugin configuration with package policy and
// returns its errors and duplicate keys, with paths relative to the
// configuration and no lines. With a key snapshot, a configuration with a
// key_store is compiled with it (policy.CompileWithSnapshot): a snapshot
// the filter would reject is a problem at key_store, and the warnings are
// judged against its consumers.
func pluginProblems(data, snapshot []byte) []Problem {
	var probs []Problem
	p, err := policy.CompileAt(data, now())
	if err == nil && p.KeyStore() != nil && snapshot != nil {
		p, err = policy.CompileWithSnapshot(data, snapshot, now())
	}
	var le *policy.LoadError
	switch {
	case err == nil:
		for _, w := range p.Warnings() {
			probs = append(probs, Problem{Path: w.Path, Msg: w.Msg, Warning: true})
		}
		if p.KeyStore() == nil && snapshot != nil {
			probs = append(probs, Problem{Path: "consumers", Warning: true,
				Msg: "a key snapshot was given, but this configuration's keys are inline: the snapshot is not used"})
		}
		probs = append(probs, keyPolicyProblems(p, now())...)
		if n := unjudgedWarnings(p, snapshot); n > 0 {
			probs = append(probs, Problem{Path: "key_store", Warning: true, Msg: fmt.Sprintf(
				"the consumers are in the key snapshot, which was not given: %d warning(s) about unused rate-limit "+
					"policies or quotas may be wrong, and route scopes were not checked (give the snapshot with --key-snapshot)", n)})
		}
	case errors.As(err, &le):
		probs = append(probs, Problem{Path: "key_store", Msg: "the key snapshot does not load against this configuration: " + le.Error()})
	default:
		var ce *policy.ConfigError
		if !errors.As(err, &ce) {
			return []Problem{{Msg: err.Error()}}
		}
		for _, fe := range ce.Errors {
			probs = append(probs, Problem{Path: fe.Path, Msg: fe.Msg})
		}
	}
	// Add the duplicate keys policy did not report itself.
	reported := make(map[string]bool, len(probs))
	for _, p := range probs {
		reported[p.Path] = true
	}
	_, treeProbs := parseTree(data)
	for _, p := range treeProbs {
		if strings.HasPrefix(p.Msg, "duplicate key") && !reported[p.Path] {
			probs = append(probs, Problem{Path: p.Path, Msg: p.Msg})
		}
	}
	return probs
}

// unjudgedWarnings counts the warnings of p, a policy with a key_store
// compiled without its snapshot, that the snapshot's consumers could
// contradict: those about rate-limit policies and quotas nothing uses.
// It is 0 when keys are inline or the snapshot was given.
func unjudgedWarnings(p *policy.Policy, snapshot []byte) int {
	if p.KeyStore() == nil || snapshot != nil {
		return 0
	}
	n := 0
	for _, w := range p.Warnings() {
		if strings.HasPrefix(w.Path, "rate_limits.") || strings.HasPrefix(w.Path, "quotas.") {
			n++
		}
	}
	return n
}
