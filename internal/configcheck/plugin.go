package configcheck

import (
	"errors"
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
	probs := pluginProblems(data)
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
// configuration and no lines.
func pluginProblems(data []byte) []Problem {
	var probs []Problem
	if p, err := policy.CompileAt(data, now()); err == nil {
		for _, w := range p.Warnings() {
			probs = append(probs, Problem{Path: w.Path, Msg: w.Msg, Warning: true})
		}
	} else {
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
