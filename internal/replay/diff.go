package replay

import (
	"fmt"
	"maps"
)

// A Change is a request whose outcome differs between two runs.
type Change struct {
	Line   int    `json:"line"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Note   string `json:"note,omitempty"`
	// Baseline and New are the outcomes under the two configurations.
	Baseline Outcome `json:"baseline"`
	New      Outcome `json:"new"`
}

// Diff returns the requests whose decision, status, reason, upstream path
// or upstream identity headers differ between a baseline run and a new run
// of the same requests, in order: a change to what the back end receives is
// a change even when the decision is the same. A different route alone is
// not a change.
func Diff(baseline, current []Result) ([]Change, error) {
	if len(baseline) != len(current) {
		return nil, fmt.Errorf("the runs have %d and %d results", len(baseline), len(current))
	}
	var changes []Change
	for i, b := range baseline {
		c := current[i]
		if b.Line != c.Line {
			return nil, fmt.Errorf("result %d is of line %d in one run and line %d in the other", i, b.Line, c.Line)
		}
		if b.Decision == c.Decision && b.Status == c.Status && b.Reason == c.Reason &&
			b.UpstreamPath == c.UpstreamPath && maps.Equal(b.UpstreamIdentity, c.UpstreamIdentity) {
			continue
		}
		changes = append(changes, Change{
			Line: c.Line, Method: c.Method, Path: c.Path, Note: c.Note,
			Baseline: b.Outcome, New: c.Outcome,
		})
	}
	return changes, nil
}
