package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/apiguard/apiguard/internal/replay"
	"github.com/apiguard/apiguard/policy"
)

// runJSON is replay's --output json for one configuration.
type runJSON struct {
	Config   string          `json:"config"`
	Mode     string          `json:"mode"`
	Requests []replay.Result `json:"requests"`
	Summary  summaryJSON     `json:"summary"`
}

// summaryJSON counts the results of a run.
type summaryJSON struct {
	Total        int            `json:"total"`
	Allowed      int            `json:"allowed"`
	Denied       int            `json:"denied"`
	ShadowDenied int            `json:"shadow_denied"`
	ByReason     map[string]int `json:"by_reason"`
}

// diffJSON is replay's --output json with --baseline.
type diffJSON struct {
	Baseline string          `json:"baseline"`
	Config   string          `json:"config"`
	Total    int             `json:"total"`
	Changed  []replay.Change `json:"changed"`
	Summary  struct {
		Baseline summaryJSON `json:"baseline"`
		New      summaryJSON `json:"new"`
	} `json:"summary"`
}

func summarize(rep *replay.Report) summaryJSON {
	s := summaryJSON{Total: len(rep.Results), ByReason: rep.Counts}
	for _, r := range rep.Results {
		switch r.Decision {
		case policy.OutcomeAllow:
			s.Allowed++
		case policy.OutcomeDeny:
			s.Denied++
		case policy.OutcomeShadowDeny:
			s.ShadowDenied++
		}
	}
	return s
}

// writeRun prints the report of one run.
func writeRun(w io.Writer, format, configName string, rep *replay.Report) error {
	if format == "json" {
		mode := "enforce"
		if rep.Shadow {
			mode = "shadow"
		}
		return writeJSON(w, runJSON{Config: configName, Mode: mode, Requests: rep.Results, Summary: summarize(rep)})
	}
	hasNotes := false
	for _, r := range rep.Results {
		hasNotes = hasNotes || r.Note != ""
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	head := "LINE\tREQUEST\tROUTE\tDECISION\tSTATUS\tREASON"
	if hasNotes {
		head += "\tNOTE"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rep.Results {
		row := fmt.Sprintf("%d\t%s %s\t%s\t%s\t%d\t%s", r.Line, r.Method, r.Path, dash(r.Route), r.Decision.String(), r.Status, r.Reason)
		if hasNotes {
			row += "\t" + r.Note
		}
		fmt.Fprintln(tw, row)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Rows without a note end in the padding of the reason column.
	for line := range strings.Lines(buf.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
	fmt.Fprintln(w)
	writeSummary(w, rep)
	return nil
}

// writeSummary prints the counts of a run by decision and by reason.
func writeSummary(w io.Writer, rep *replay.Report) {
	s := summarize(rep)
	if rep.Shadow {
		fmt.Fprintf(w, "%d requests in shadow mode (nothing blocked): %d allowed, %d would have been denied\n",
			s.Total, s.Allowed, s.ShadowDenied)
	} else {
		fmt.Fprintf(w, "%d requests: %d allowed, %d denied\n", s.Total, s.Allowed, s.Denied)
	}
	for _, reason := range orderedReasons(rep.Counts) {
		fmt.Fprintf(w, "  %-20s %5d\n", reason, rep.Counts[reason])
	}
	if len(rep.Inconsistencies) == 0 {
		fmt.Fprintln(w, "The filter's responses, decision logs and apiguard.decision.* counters agree.")
	}
}

// orderedReasons returns the reasons with a count in policy.Reasons order,
// then any others sorted.
func orderedReasons(counts map[string]int) []string {
	var out []string
	known := map[string]bool{}
	for _, r := range policy.Reasons() {
		known[string(r)] = true
		if counts[string(r)] > 0 {
			out = append(out, string(r))
		}
	}
	var other []string
	for r, n := range counts {
		if !known[r] && n > 0 {
			other = append(other, r)
		}
	}
	sort.Strings(other)
	return append(out, other...)
}

// writeDiff prints the requests whose decision or upstream request changed.
func writeDiff(w io.Writer, format, baselineName, configName string, reps []*replay.Report, changes []replay.Change) error {
	if format == "json" {
		d := diffJSON{Baseline: baselineName, Config: configName, Total: len(reps[1].Results), Changed: changes}
		if d.Changed == nil {
			d.Changed = []replay.Change{}
		}
		d.Summary.Baseline, d.Summary.New = summarize(reps[0]), summarize(reps[1])
		return writeJSON(w, d)
	}
	if len(changes) == 0 {
		fmt.Fprintf(w, "Nothing changed: %d requests decided and forwarded the same under %s and %s.\n",
			len(reps[1].Results), baselineName, configName)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LINE\tREQUEST\tBASELINE\tNEW")
	for _, c := range changes {
		// The identity headers are shown when they are what changed.
		identity := c.Baseline.Decision == c.New.Decision && !maps.Equal(c.Baseline.UpstreamIdentity, c.New.UpstreamIdentity)
		fmt.Fprintf(tw, "%d\t%s %s\t%s\t%s\n", c.Line, c.Method, c.Path,
			outcome(c.Baseline, c.Path, identity), outcome(c.New, c.Path, identity))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d of %d requests changed decision or upstream request (baseline %s, new %s).\n",
		len(changes), len(reps[1].Results), baselineName, configName)
	return nil
}

// outcome formats an outcome as "deny 403 insufficient_scope (route)", with
// "-> <path>" when the upstream path differs from the request's path and,
// when identity, the upstream identity headers as "[name=value ...]".
func outcome(o replay.Outcome, path string, identity bool) string {
	s := o.Decision.String() + " " + strconv.Itoa(o.Status) + " " + o.Reason + " (" + dash(o.Route) + ")"
	if o.UpstreamPath != "" && o.UpstreamPath != path {
		s += " -> " + o.UpstreamPath
	}
	if identity {
		names := slices.Sorted(maps.Keys(o.UpstreamIdentity))
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = n + "=" + o.UpstreamIdentity[n]
		}
		s += " [" + strings.Join(parts, " ") + "]"
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
