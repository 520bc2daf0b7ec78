package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/mdcheck"
)

// metricsDoc is the page whose Metrics section documents every metric.
const metricsDoc = "../docs/operations.md"

var docValue = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// documentedMetrics reads the table of the Metrics section: one pattern per
// row. A name with a placeholder ("apiguard.decision.<reason>") stands for
// each value its row lists as a code span ("`allowed`, `missing`, ..."),
// or for any value when the row lists none ("apiguard.build.<version>").
func documentedMetrics(t *testing.T) []*regexp.Regexp {
	t.Helper()
	data, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	sec, ok := mdcheck.Parse(string(data)).Section("Metrics")
	if !ok {
		t.Fatalf("%s has no Metrics section", metricsDoc)
	}
	var pats []*regexp.Regexp
	for _, row := range sec.TableRows() {
		spans := mdcheck.CodeSpans(row[0])
		if len(spans) == 0 || len(row) < 2 {
			continue
		}
		name := spans[0]
		open, close := strings.IndexByte(name, '<'), strings.IndexByte(name, '>')
		if open < 0 || close < open {
			pats = append(pats, regexp.MustCompile("^"+regexp.QuoteMeta(name)+"$"))
			continue
		}
		before, after := regexp.QuoteMeta(name[:open]), regexp.QuoteMeta(name[close+1:])
		n := len(pats)
		for _, s := range mdcheck.CodeSpans(row[1]) {
			if docValue.MatchString(s) {
				pats = append(pats, regexp.MustCompile("^"+before+regexp.QuoteMeta(s)+after+"$"))
			}
		}
		if len(pats) == n {
			pats = append(pats, regexp.MustCompile("^"+before+`[-\w]+`+after+"$"))
		}
	}
	return pats
}

// TestDocsListEveryMetric: every metric the filter defines (read from the
// code, as the dashboard test does) matches a row of the Metrics table,
// and every row matches a metric the filter defines.
func TestDocsListEveryMetric(t *testing.T) {
	stats := exportedStats(t)
	pats := documentedMetrics(t)
	if len(pats) == 0 {
		t.Fatalf("no metric rows in %s", metricsDoc)
	}
	used := make([]bool, len(pats))
	for _, s := range stats {
		found := false
		for i, p := range pats {
			if p.MatchString(s) {
				found, used[i] = true, true
			}
		}
		if !found {
			t.Errorf("metric %s is not in the Metrics table of %s", s, metricsDoc)
		}
	}
	for i, p := range pats {
		if !used[i] {
			t.Errorf("%s documents %s, which matches no metric the filter defines", metricsDoc, p)
		}
	}
}
