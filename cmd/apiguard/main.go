// Command apiguard is the operator's tool for the apiguard filter: it mints
// API keys, hashes existing ones, validates configurations before they go
// into a mesh update, and replays recorded traffic through the compiled
// filter (build/apiguard.wasm) to show what a configuration, or a change to
// one, does to real requests before rollout.
//
// Usage:
//
//	apiguard keygen --consumer ID [--prefix agk_] [--id KEYID] [--not-before T] [--not-after T] [--json] [--out FILE] [--keys-file FILE]
//	apiguard hash < keys.txt
//	apiguard verify-format [--prefix agk_] [KEY | -]
//	apiguard validate [--wasm-path P] [--config CONFIG] FILE...
//	apiguard ratelimit-config --config FILE [--domain apiguard] [--out FILE]
//	apiguard keys signing-key --out FILE
//	apiguard keys build --consumers FILE --signing-key FILE --out FILE [--generation N] [--unsigned]
//	apiguard keys inspect FILE [--public-key KEY]
//	apiguard replay --config cfg.json --requests traffic.jsonl [--wasm build/apiguard.wasm] [--keys keys.txt] [--baseline old.json] [--output table|json]
//	apiguard version
//
// Run "apiguard help COMMAND" for the details of a command.
//
// Exit status: 0 on success; 1 when the command's check failed (an invalid
// file, a malformed key, decisions that changed against the baseline); 2 on
// usage errors and failures to run.
package main

import (
	"errors"
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
}

// commands lists the subcommands in the order the help shows them.
var commands []*command

func init() {
	commands = []*command{keygenCmd, hashCmd, verifyFormatCmd, validateCmd, keysCmd, scanCmd, rateLimitConfigCmd, replayCmd, versionCmd, echoUpstreamCmd}
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
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			if c := lookup(args[1]); c != nil {
				return c.run(c, e, []string{"-h"})
			}
			fmt.Fprintf(e.stderr, "apiguard: unknown command %q\n", args[1])
			return exitError
		}
		usage(e.stdout)
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "apiguard: unknown command %q\n\n", name)
		usage(e.stderr)
		return exitError
	}
	return c.run(c, e, args[1:])
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
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
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

// parseFlags parses args with the flags defined on fs. It returns done and
// the exit status when the command should stop: after -h (help on stdout,
// status 0) or a usage error (status 2).
func (c *command) parseFlags(e *env, fs *flag.FlagSet, args []string) (done bool, status int) {
	fs.SetOutput(e.stderr)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return false, exitOK
	case errors.Is(err, flag.ErrHelp):
		c.printHelp(e.stdout, fs)
		return true, exitOK
	}
	// flag has printed the error.
	return true, c.usageError(e, "")
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
