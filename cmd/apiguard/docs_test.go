package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/mdcheck"
)

// cliDoc is the page that documents every command and flag.
const cliDoc = "docs/cli.md"

// invocations returns every command line that has flags of its own, as
// the code defines them: each command, and for a command whose synopsis
// names subcommands ("keys signing-key|build|inspect ..."), each
// subcommand instead.
func invocations() []string {
	var out []string
	for _, c := range commands {
		words := strings.Fields(c.synopsis)
		if len(words) > 1 && strings.Contains(words[1], "|") && !strings.HasPrefix(words[1], "[") {
			for _, sub := range strings.Split(words[1], "|") {
				out = append(out, c.name+" "+sub)
			}
			continue
		}
		out = append(out, c.name)
	}
	return out
}

// helpFlags returns the flags "apiguard INVOCATION -h" lists, without
// their dashes.
func helpFlags(t *testing.T, invocation string) []string {
	t.Helper()
	r := apiguard(t, "", append(strings.Fields(invocation), "-h")...)
	r.wantCode(t, exitOK)
	_, flags, _ := strings.Cut(r.stdout, "\nFlags:\n")
	var names []string
	for line := range strings.Lines(flags) {
		if strings.HasPrefix(line, "  -") {
			// "--output, -o string": the flag, not its short alias.
			names = append(names, strings.TrimSuffix(strings.TrimLeft(strings.Fields(line)[0], "-"), ","))
		}
	}
	return names
}

// docFlags returns the flags of the table in a command's section: the
// first code span of each row's first cell, without its dashes and
// argument.
func docFlags(sec *mdcheck.Doc) []string {
	var names []string
	for _, row := range sec.TableRows() {
		spans := mdcheck.CodeSpans(row[0])
		if len(spans) == 0 || !strings.HasPrefix(spans[0], "-") {
			continue
		}
		names = append(names, strings.TrimLeft(strings.Fields(spans[0])[0], "-"))
	}
	return names
}

// TestCLIDocs: docs/cli.md has a section "`apiguard INVOCATION`" for every
// command (and subcommand), whose flag table lists exactly the flags the
// command's help lists; and no section for a command that does not exist.
func TestCLIDocs(t *testing.T) {
	data, err := os.ReadFile(repoFile(t, cliDoc))
	if err != nil {
		t.Fatal(err)
	}
	doc := mdcheck.Parse(string(data))
	invs := invocations()
	if !slices.Contains(invs, "keys build") {
		t.Fatalf("invocations %q: the keys subcommands were not found in keys' synopsis", invs)
	}
	for _, inv := range invs {
		sec, ok := doc.Section("`apiguard " + inv + "`")
		if !ok {
			t.Errorf("%s has no section \"## `apiguard %s`\"", cliDoc, inv)
			continue
		}
		code, documented := helpFlags(t, inv), docFlags(sec)
		for _, f := range code {
			if !slices.Contains(documented, f) {
				t.Errorf("apiguard %s --%s is not in the flag table of %s", inv, f, cliDoc)
			}
		}
		for _, f := range documented {
			if !slices.Contains(code, f) {
				t.Errorf("%s documents apiguard %s --%s, which the command does not have", cliDoc, inv, f)
			}
		}
	}
	for _, h := range doc.Headings() {
		name, ok := strings.CutPrefix(h.Text, "`apiguard ")
		if !ok {
			continue
		}
		if name = strings.TrimSuffix(name, "`"); !slices.Contains(invs, name) {
			t.Errorf("%s has a section for apiguard %s, which is not a command", cliDoc, name)
		}
	}
}
