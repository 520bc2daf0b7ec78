package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/apiguard/apiguard/internal/buildinfo"
	"github.com/apiguard/apiguard/internal/metricname"
)

// Files the test reads, relative to this package.
const (
	dashboardFile = "../deploy/grafana/apiguard.dashboard.json"
	rulesFile     = "../deploy/prometheus/apiguard.rules.yaml"
	envoyFile     = "../envoy.yaml"
)

// promSeries is one Prometheus series shape: a name and its labels (values
// of the labels the naming puts there; scrape labels are left out).
type promSeries struct {
	name   string
	labels map[string]string
}

// exportedStats returns the stat names the filter defines: every name of
// internal/metricname's table (the decision and key store families
// expanded) and the build gauge for a sample version. That the filter
// names no metric but through the table is TestMetricNamesComeFromTheTable's.
func exportedStats(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, m := range metricname.All() {
		names = append(names, m.Name)
	}
	// announceBuild's gauge, for version v0.2.0-4-gabc1234.
	return append(names, buildinfo.MetricNameFor("v0.2.0-4-gabc1234"))
}

// envoyTags reads the stats_tags of envoy.yaml.
func envoyTags(t *testing.T) []*regexp.Regexp {
	t.Helper()
	var b struct {
		StatsConfig struct {
			StatsTags []struct {
				TagName string `yaml:"tag_name"`
				Regex   string `yaml:"regex"`
			} `yaml:"stats_tags"`
		} `yaml:"stats_config"`
	}
	data, err := os.ReadFile(envoyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	var res []*regexp.Regexp
	for _, tag := range b.StatsConfig.StatsTags {
		// The tag name rides along as the regexp's name, for naming below.
		re := regexp.MustCompile("(?P<" + tag.TagName + ">)" + tag.Regex)
		res = append(res, re)
	}
	return res
}

var promUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// promName is Envoy's Prometheus name of a wasmcustom stat (docs/operations.md,
// Metrics): the namespace stripped, every other character made '_'.
func promName(stat string) string {
	return promUnsafe.ReplaceAllString(strings.TrimPrefix(stat, "wasmcustom."), "_")
}

// envoyNaming applies tags the way Envoy's tag extractor does: the first
// group of a matching regex is cut from the name, the second is the value.
func envoyNaming(stats []string, tags []*regexp.Regexp) []promSeries {
	var out []promSeries
	for _, s := range stats {
		name := "wasmcustom." + s
		labels := map[string]string{}
		for _, re := range tags {
			m := re.FindStringSubmatchIndex(name)
			if m == nil {
				continue
			}
			// group 1 is the empty named group; 2 and 3 the tag's own.
			labels[re.SubexpNames()[1]] = name[m[6]:m[7]]
			name = name[:m[4]] + name[m[5]:]
		}
		out = append(out, promSeries{promName(name), labels})
	}
	return out
}

// istioNaming: no stats_tags, then the rules file's label_replace recording
// rules add their series.
func istioNaming(t *testing.T, stats []string) []promSeries {
	var out []promSeries
	for _, s := range stats {
		out = append(out, promSeries{promName("wasmcustom." + s), map[string]string{}})
	}
	recordRE := regexp.MustCompile(`^label_replace\(\{__name__=~"([^"]+)"\}, "(\w+)", "\$1", "__name__", "([^"]+)"\)$`)
	for _, r := range readRules(t) {
		if r.Record == "" {
			continue
		}
		m := recordRE.FindStringSubmatch(strings.TrimSpace(r.Expr))
		if m == nil {
			t.Fatalf("recording rule %s: expression %q is not the label_replace this test reads", r.Record, r.Expr)
		}
		sel, label, extract := regexp.MustCompile("^"+m[1]+"$"), m[2], regexp.MustCompile("^"+m[3]+"$")
		for _, s := range slices.Clone(out) {
			if sel.MatchString(s.name) {
				out = append(out, promSeries{r.Record, map[string]string{label: extract.FindStringSubmatch(s.name)[1]}})
			}
		}
	}
	return out
}

type rule struct {
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
}

func readRules(t *testing.T) []rule {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// dashboardExprs returns every PromQL expression of the dashboard: its
// panels' targets and its query variables.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query string `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			exprs = append(exprs, v.Query)
		}
	}
	return exprs
}

var (
	selectorRE = regexp.MustCompile(`\b(apiguard[a-zA-Z0-9_:]*)(\{([^}]*)\})?`)
	matcherRE  = regexp.MustCompile(`(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	byRE       = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
	// Labels the scrape adds, not the naming.
	scrapeLabels = map[string]bool{"instance": true, "job": true, "namespace": true, "pod": true}
)

// exprProblems lists what expr reads that the series do not have: a metric
// name, a label, or a value of a label matched by =, != or =~ (each
// alternative of a|b|c).
func exprProblems(scheme, expr string, series []promSeries) []string {
	var probs []string
	errorf := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	sels := selectorRE.FindAllStringSubmatch(expr, -1)
	if len(sels) == 0 {
		errorf("%s: %q reads no apiguard metric", scheme, expr)
	}
	var read []promSeries // the series the expression selects
	for _, sel := range sels {
		var named []promSeries
		for _, s := range series {
			if s.name == sel[1] {
				named = append(named, s)
			}
		}
		if len(named) == 0 {
			errorf("%s: %q reads %s, which is not exported", scheme, expr, sel[1])
			continue
		}
		read = append(read, named...)
		for _, m := range matcherRE.FindAllStringSubmatch(sel[3], -1) {
			label, op, value := m[1], m[2], m[3]
			if scrapeLabels[label] {
				continue
			}
			var values []string
			for _, s := range named {
				if v, ok := s.labels[label]; ok {
					values = append(values, v)
				}
			}
			if len(values) == 0 {
				errorf("%s: %q matches label %s, which %s does not have", scheme, expr, label, sel[1])
				continue
			}
			if op != "=" && op != "=~" && op != "!=" {
				continue
			}
			for _, alt := range strings.Split(value, "|") {
				if !slices.Contains(values, alt) {
					errorf("%s: %q matches %s=%q, which no series of %s has (values %q)", scheme, expr, label, alt, sel[1], values)
				}
			}
		}
	}
	for _, by := range byRE.FindAllStringSubmatch(expr, -1) {
		for _, label := range strings.Split(by[1], ",") {
			label = strings.TrimSpace(label)
			if label == "" || scrapeLabels[label] {
				continue
			}
			found := false
			for _, s := range read {
				_, ok := s.labels[label]
				found = found || ok
			}
			if !found {
				errorf("%s: %q groups by %s, which the series it reads do not have", scheme, expr, label)
			}
		}
	}
	return probs
}

// TestDashboardAndAlertsReadExportedMetrics checks every expression of the
// Grafana dashboard and of the alert rules against the Prometheus names the
// filter's counters really get, under envoy.yaml's stats_tags and under
// Istio's bootstrap (no tags, the rules file's recording rules).
func TestDashboardAndAlertsReadExportedMetrics(t *testing.T) {
	stats := exportedStats(t)
	schemes := map[string][]promSeries{
		"envoy.yaml": envoyNaming(stats, envoyTags(t)),
		"istio":      istioNaming(t, stats),
	}
	if !slices.ContainsFunc(schemes["envoy.yaml"], func(s promSeries) bool {
		return s.name == "apiguard_decision" && s.labels["reason"] == "unknown"
	}) {
		t.Fatalf("envoy.yaml naming has no apiguard_decision{reason=\"unknown\"}: %v", schemes["envoy.yaml"])
	}
	exprs := dashboardExprs(t)
	for _, r := range readRules(t) {
		if r.Alert != "" {
			exprs = append(exprs, r.Expr)
		}
	}
	for scheme, series := range schemes {
		for _, e := range exprs {
			for _, p := range exprProblems(scheme, e, series) {
				t.Error(p)
			}
		}
	}
}

// TestCheckExprCatchesMistakes: the checker above refuses a name, a label
// and a reason the filter does not export.
func TestCheckExprCatchesMistakes(t *testing.T) {
	series := envoyNaming(exportedStats(t), envoyTags(t))
	for _, bad := range []string{
		`rate(apiguard_decisions{reason="allowed"}[5m])`,
		`rate(apiguard_decision{reason="unkown"}[5m])`,
		`rate(apiguard_config_errors{reason="x"}[5m])`,
		`sum by (route) (rate(apiguard_decision[5m]))`,
		`rate(apiguard_decision_allowed[5m])`, // Istio's name, not envoy.yaml's
	} {
		if len(exprProblems("envoy.yaml", bad, series)) == 0 {
			t.Errorf("%q passed the check", bad)
		}
	}
}
