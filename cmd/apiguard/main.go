// Command apiguard is the operator's tool for the apiguard filter: it mints
// API keys, hashes existing ones, validates configurations before they go
// into a mesh update, and replays recorded traffic through the compiled
// filter (build/apiguard.wasm) to show what a configuration, or a change to
// one, does to real requests before rollout.
//
// Usage:
//
//	apiguard keygen --consumer ID [--prefix agk_] [--id KEYID] [--not-before T] [--not-after T] [--allow-expired] [--json] [--out FILE] [--keys-file FILE]
//	apiguard hash < keys.txt
//	apiguard verify-format [--prefix agk_] [KEY | -]
//	apiguard validate [--wasm-path P] [--config CONFIG] [--strict] [-o text|json] FILE...
//	apiguard ratelimit-config --config FILE [--domain apiguard] [--out FILE]
//	apiguard keys signing-key --out FILE
//	apiguard keys build --consumers FILE --signing-key FILE --out FILE [--generation N] [--unsigned]
//	apiguard keys inspect FILE [--public-key KEY] [-o text|json]
//	apiguard replay --config cfg.json --requests traffic.jsonl [--wasm build/apiguard.wasm] [--keys keys.txt] [--baseline old.json] [-o table|json]
//	apiguard version (or apiguard --version)
//
// Flags may come before or after arguments ("--" ends them). Run
// "apiguard help COMMAND" (or "apiguard help keys build") for the details of
// a command.
//
// Exit status: 0 on success; 1 when the command's check failed (an invalid
// file, a malformed key, decisions that changed against the baseline); 2 on
// usage errors and failures to run.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit statuses.
const (
	exitOK    = 0 // success
	exitFail  = 1 // the check the command makes failed
	exitError = 2 // bad usage, or the command could not run
)

// env is where a command reads and writes; tests substitute buffers.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// A command is one subcommand.
type command struct {
	name     string
	synopsis string // the usage line after "apiguard "
	summary  string // one line for the command list
	help     string // the long description, shown by -h
	hidden   bool   // left out of the command list (development helpers)
	run      func(c *command, e *env, args []string) int
	// subcommands of a command such as keys ("keys build"), each with its
	// own flags and help.
	subcommands []*command
}

// commands lists the subcommands in the order the help shows them.
var commands []*command

func init() {
	commands = []*command{keygenCmd, hashCmd, verifyFormatCmd, validateCmd, keysCmd, identityCmd, scanCmd, rateLimitConfigCmd, replayCmd, versionCmd, echoUpstreamCmd}
}

func main() {
	os.Exit(run(os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}

// run runs the command line args and returns the exit status.
func run(args []string, e *env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitError
	}
	name := args[0]
	switch name {
	case "--version", "-version":
		if len(args) > 1 {
			fmt.Fprintf(e.stderr, "apiguard: %s takes no arguments\n", name)
			return exitError
		}
		return runVersion(versionCmd, e, nil)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			c, rest, ok := resolve(e, args[1:])
			if !ok {
				return exitError
			}
			if len(rest) > 0 && c.subcommands == nil {
				fmt.Fprintf(e.stderr, "apiguard help: %s has no subcommand %q\n", c.name, rest[0])
				return exitError
			}
			return c.run(c, e, append(rest, "-h"))
		}
		usage(e.stdout)
		return exitOK
	}
	if strings.HasPrefix(name, "-") {
		hint := ""
		if s := closest(strings.TrimLeft(name, "-"), []string{"version", "help"}); s != "" {
			hint = "; did you mean --" + s + "?"
		}
		fmt.Fprintf(e.stderr, "apiguard: unknown flag %s%s (flags come after the command: apiguard COMMAND [flags] [args]; --version and --help are the only exceptions)\n\n", name, hint)
		usage(e.stderr)
		return exitError
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "apiguard: unknown command %q%s\n\n", name, suggestion(name, commandNames(commands)))
		usage(e.stderr)
		return exitError
	}
	return c.run(c, e, args[1:])
}

// resolve finds the command args[0] names, for help; it returns the rest of
// args (a subcommand) and false after printing an error.
func resolve(e *env, args []string) (*command, []string, bool) {
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(e.stderr, "apiguard: unknown command %q%s\n", args[0], suggestion(args[0], commandNames(commands)))
		return nil, nil, false
	}
	return c, args[1:], true
}

// suggestion returns "; did you mean X?" when a name is close to name.
func suggestion(name string, names []string) string {
	if s := closest(name, names); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

func commandNames(cs []*command) []string {
	var names []string
	for _, c := range cs {
		if !c.hidden {
			names = append(names, c.name)
		}
	}
	return names
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usage prints the command list.
func usage(w io.Writer) {
	fmt.Fprint(w, `apiguard manages keys and configurations of the apiguard API-security filter
and replays recorded traffic through the compiled filter.

Usage:

  apiguard COMMAND [flags] [args]

Commands:

`)
	for _, c := range commands {
		if !c.hidden {
			fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprint(w, `
Run "apiguard help COMMAND" or "apiguard COMMAND -h" for a command's flags.
Flags go before or after arguments; "--" ends them. apiguard --version
prints the version.

Exit status: 0 success; 1 the check failed (invalid file, malformed key,
decisions changed against the baseline); 2 usage error or failure to run.
`)
}

// newFlagSet returns an empty flag set for the command's flags.
func (c *command) newFlagSet() *flag.FlagSet {
	return flag.NewFlagSet(c.name, flag.ContinueOnError)
}

// printHelp prints the command's synopsis, description and flags.
func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: apiguard %s\n\n%s", c.synopsis, strings.TrimLeft(c.help, "\n"))
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprint(w, "\nFlags:\n")
		printFlags(w, fs)
	}
}

// printFlags lists fs's flags as the usage lines spell them, --name (the
// flag package accepts one dash or two; its own PrintDefaults shows one).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	shorts := map[string]string{}
	for short, long := range flagAliases[fs] {
		shorts[long] = short
	}
	fs.VisitAll(func(f *flag.Flag) {
		if _, isAlias := flagAliases[fs][f.Name]; isAlias {
			return
		}
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if s, ok := shorts[f.Name]; ok {
			line += ", -" + s
		}
		if typ != "" {
			line += " " + typ
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if f.DefValue != "" && f.DefValue != "false" {
			line += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintln(w, line)
	})
}

// usageError prints msg (if any) and the command's synopsis on stderr and
// returns exitError.
func (c *command) usageError(e *env, msg string) int {
	if msg != "" {
		fmt.Fprintf(e.stderr, "apiguard %s: %s\n", c.name, msg)
	}
	fmt.Fprintf(e.stderr, "usage: apiguard %s\nRun \"apiguard %s -h\" for help.\n", c.synopsis, c.name)
	return exitError
}

// errorf prints an error of the command on stderr and returns exitError.
func (c *command) errorf(e *env, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "apiguard %s: %s\n", c.name, fmt.Sprintf(format, args...))
	return exitError
}
