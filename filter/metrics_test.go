package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/mdcheck"
)

// TestMetricNamesComeFromTheTable: no file of the filter spells a metric
// name; each comes from internal/metricname, the table the dashboard, the
// alerts, the docs and apiguard replay are checked against.
func TestMetricNamesComeFromTheTable(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(s, "apiguard.") {
				t.Errorf("%s: string %q looks like a metric name: name it in internal/metricname", fset.Position(lit.Pos()), s)
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("checked %d files", checked)
	}
}

// TestDocsNameEachGauge: the row of docs/operations.md's Metrics table
// that documents a gauge of internal/metricname says it is a gauge, and a
// counter's row does not.
func TestDocsNameEachGauge(t *testing.T) {
	data, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	sec, ok := mdcheck.Parse(string(data)).Section("Metrics")
	if !ok {
		t.Fatalf("%s has no Metrics section", metricsDoc)
	}
	rows := sec.TableRows()
	for _, m := range metricname.All() {
		var row []string
		for _, r := range rows {
			if spans := mdcheck.CodeSpans(r[0]); len(spans) > 0 && documents(spans[0], m.Name) {
				row = r
			}
		}
		if len(row) < 2 {
			continue // TestDocsListEveryMetric reports it
		}
		if says := strings.HasPrefix(row[1], "gauge"); says != (m.Kind == metricname.Gauge) {
			t.Errorf("%s documents %s (a %s) as %q", metricsDoc, m.Name, m.Kind, row[1])
		}
	}
}

// documents reports whether the documented name doc ("apiguard.x.<y>" or
// "apiguard.x.y") stands for name.
func documents(doc, name string) bool {
	before, _, found := strings.Cut(doc, "<")
	if !found {
		return doc == name
	}
	return strings.HasPrefix(name, before) && !strings.Contains(name[len(before):], ".")
}
