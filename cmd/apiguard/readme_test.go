package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEveryFlag: every flag a command's help lists appears, as
// --flag, in the README's command-line section or in
// docs/cli-conventions.md (the conventions and the flags they added), and
// every command in the README's table.
func TestREADMEListsEveryFlag(t *testing.T) {
	data, err := os.ReadFile(repoFile(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	conventions, err := os.ReadFile(repoFile(t, "docs/cli-conventions.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	start := strings.Index(readme, "## Command-line tool\n")
	end := strings.Index(readme, "## Response contract\n")
	if start < 0 || end < start {
		t.Fatal("README has no Command-line tool section before Response contract")
	}
	section := readme[start:end] + string(conventions)
	for _, c := range allCommands() {
		if c.hidden {
			continue
		}
		if !strings.Contains(c.name, " ") && !strings.Contains(section, "| `"+c.name) {
			t.Errorf("the README's command table has no row for %s", c.name)
		}
		h := apiguard(t, "", append(strings.Fields(c.name), "-h")...)
		_, flags, _ := strings.Cut(h.stdout, "\nFlags:\n")
		for line := range strings.Lines(flags) {
			if !strings.HasPrefix(line, "  --") {
				continue
			}
			name := strings.TrimSuffix(strings.Fields(line)[0], ",")
			if !strings.Contains(section, name) {
				t.Errorf("%s %s is not in the README's Command-line tool section", c.name, name)
			}
		}
	}
}

// allCommands returns the commands and their subcommands ("keys build").
func allCommands() []*command {
	var all []*command
	for _, c := range commands {
		all = append(all, c)
		all = append(all, c.subcommands...)
	}
	return all
}
