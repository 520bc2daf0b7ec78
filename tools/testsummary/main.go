// Command testsummary reads `go test -json` on stdin and prints what plain
// `go test` prints (each package's "ok"/"FAIL"/"?" closing line, the output
// of failing tests, build errors), then one line per package and skip
// reason listing the tests that skipped for it:
//
//	SKIP github.com/apiguard/apiguard/e2e: 9 tests (TestA, TestB, ...): skipping real-Envoy test: ...
//
// so that a suite that skipped does not read like a pass. It exits 1 when
// any test or package failed (make test also keeps go test's own status).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of go test -json (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output events
	Test       string
	Output     string
}

// skipGroup is the tests of one package that skipped for one reason.
type skipGroup struct {
	pkg, reason string
	tests       []string
}

func main() {
	failed, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// summarize copies the plain-go-test view of in to out, then the skip
// summary, and reports whether anything failed.
func summarize(in io.Reader, out io.Writer) (failed bool, err error) {
	pending := map[string][]string{} // package + test -> its output so far
	groups := map[[2]string]*skipGroup{}
	var order [][2]string
	var passed, failedTests, skipped int // tests, subtests included
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil {
			// Not an event (go vet or build output on the same stream).
			fmt.Fprintf(out, "%s\n", line)
			continue
		}
		key := ev.Package + " " + ev.Test
		switch {
		case ev.Action == "build-output":
			fmt.Fprint(out, ev.Output)
		case ev.Action == "build-fail":
			failed = true
		case ev.Test == "" && ev.Action == "output":
			if o := ev.Output; o != "PASS\n" && o != "FAIL\n" && !strings.HasPrefix(o, "=== ") {
				fmt.Fprint(out, o)
			}
		case ev.Test == "" && ev.Action == "fail":
			failed = true
		case ev.Test == "":
			// Package-level start, pass, and skip (no test files: go
			// test's "?" line above says so).
		case ev.Action == "output":
			pending[key] = append(pending[key], ev.Output)
		case ev.Action == "fail":
			failed = true
			failedTests++
			for _, o := range pending[key] {
				if !strings.HasPrefix(o, "=== ") {
					fmt.Fprint(out, o)
				}
			}
			delete(pending, key)
		case ev.Action == "skip":
			skipped++
			r := reason(pending[key])
			g := [2]string{ev.Package, r}
			if groups[g] == nil {
				groups[g] = &skipGroup{pkg: ev.Package, reason: r}
				order = append(order, g)
			}
			groups[g].tests = append(groups[g].tests, ev.Test)
			delete(pending, key)
		case ev.Action == "pass":
			passed++
			delete(pending, key)
		}
	}
	if err := sc.Err(); err != nil {
		return failed, fmt.Errorf("reading go test -json: %w", err)
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i][0] < order[j][0] })
	for _, g := range order {
		fmt.Fprintln(out, groups[g].line())
	}
	// The closing line: tests and subtests, as CI systems read it.
	fmt.Fprintf(out, "tests: %d passed, %d failed, %d skipped\n", passed, failedTests, skipped)
	return failed, nil
}

// reason is what a skipped test printed, without go test's framing lines.
func reason(output []string) string {
	var parts []string
	for _, o := range output {
		o = strings.TrimSpace(o)
		if o == "" || strings.HasPrefix(o, "=== ") || strings.HasPrefix(o, "--- SKIP") {
			continue
		}
		parts = append(parts, o)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	// Without the file:line of the t.Skip call, so that tests sharing a
	// helper's reason share one summary line.
	return fileLine.ReplaceAllString(strings.Join(parts, " "), "")
}

var fileLine = regexp.MustCompile(`^[\w.-]+\.go:\d+: `)

func (g *skipGroup) line() string {
	names := g.tests
	if len(names) > 5 {
		names = append(append([]string{}, names[:5]...), "...")
	}
	n := fmt.Sprintf("%d tests", len(g.tests))
	if len(g.tests) == 1 {
		n = "1 test"
	}
	return fmt.Sprintf("SKIP %s: %s (%s): %s", g.pkg, n, strings.Join(names, ", "), g.reason)
}
