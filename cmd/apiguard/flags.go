package main

import (
	"github.com/apiguard/apiguard/internal/suggest"

	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Flag handling shared by every command: flags before, between or after the
// arguments (as kubectl and promtool accept them; "--" ends the flags),
// "did you mean" for a misspelt flag, short aliases such as -o for
// --output, and time values answered with an example.

// parseFlags parses args with the flags defined on fs, wherever they stand
// among the arguments; fs.Args() then holds the arguments in order. It
// returns done and the exit status when the command should stop: after -h
// (help on stdout, status 0) or a usage error (status 2).
func (c *command) parseFlags(e *env, fs *flag.FlagSet, args []string) (done bool, status int) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	_, err := parseInterspersed(fs, args)
	switch {
	case err == nil:
		return false, exitOK
	case errors.Is(err, flag.ErrHelp):
		c.printHelp(e.stdout, fs)
		return true, exitOK
	}
	return true, c.usageError(e, flagErrorMessage(fs, err))
}

// parseInterspersed parses args with fs, taking flags wherever they stand:
// the flag package stops at the first argument, so parsing resumes after
// each one. "--" ends the flags. Afterwards fs.Args() holds the arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	// Parsing "--" alone leaves the flags as they are and sets fs.Args().
	if err := fs.Parse(append([]string{"--"}, pos...)); err != nil {
		return nil, err
	}
	return pos, nil
}

// flagErrorMessage rewrites an error of the flag package the way the help
// spells flags (--name), with a suggestion for an unknown flag.
func flagErrorMessage(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		out := "unknown flag " + dashed(name)
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if s := closest(name, names); s != "" {
			out += "; did you mean " + dashed(s) + "?"
		}
		return out
	}
	// "invalid value "x" for flag -n: ...", "flag needs an argument: -n".
	for _, sep := range []string{"flag -", "argument: -"} {
		if i := strings.Index(msg, sep); i >= 0 {
			j := i + len(sep) - 1
			if !strings.HasPrefix(msg[j:], "--") {
				msg = msg[:j] + "-" + msg[j:]
			}
		}
	}
	return msg
}

// dashed spells a flag name as the help does: --name, or -o for a
// one-letter alias.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// closest is suggest.Closest.
func closest(s string, candidates []string) string { return suggest.Closest(s, candidates) }

// flagAliases maps a flag set's one-letter aliases to the flags they stand
// for, for the help.
var flagAliases = map[*flag.FlagSet]map[string]string{}

// alias defines -short as another name of the flag long.
func alias(fs *flag.FlagSet, short, long string) {
	f := fs.Lookup(long)
	fs.Var(f.Value, short, "same as --"+long)
	if flagAliases[fs] == nil {
		flagAliases[fs] = map[string]string{}
	}
	flagAliases[fs][short] = long
}

// outputFlag defines --output (alias -o) with the formats allowed, the first
// being the default.
func outputFlag(fs *flag.FlagSet, formats ...string) *string {
	p := fs.String("output", formats[0], "output format: "+strings.Join(formats, " or "))
	alias(fs, "o", "output")
	return p
}

// checkOutput returns a usage message unless format is one of formats.
func checkOutput(format string, formats ...string) string {
	for _, f := range formats {
		if format == f {
			return ""
		}
	}
	return fmt.Sprintf("--output must be %s (not %q)", strings.Join(formats, " or "), format)
}

// timeExample is the example every time flag's error shows.
const timeExample = "2027-01-01T00:00:00Z"

// parseTimeFlag parses the value of a time flag: an RFC 3339 time such as
// 2027-01-01T00:00:00Z (fractional seconds and offsets such as +02:00
// allowed), the form of the configuration's not_before and not_after. The
// error names the flag and shows an example instead of Go's layout string.
func parseTimeFlag(flagName, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: %q is not an RFC 3339 time; write it as %s (or with an offset, 2027-01-01T01:00:00+01:00)",
			flagName, v, timeExample)
	}
	return t, nil
}
