package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apiguard/apiguard/policy/keymat"
)

var hashCmd = &command{
	name:     "hash",
	synopsis: "hash < keys.txt",
	summary:  "print the SHA-256 of keys read from stdin, for the configuration",
	help: `
Hash reads keys from stdin, one per line, and prints for each its SHA-256 in
lowercase hex, the form of a key's "sha256" in the plugin configuration. Use
it to migrate existing keys, whatever their format. Leading and trailing
spaces are trimmed and blank lines skipped; the output has one line per key,
in input order; input without any key is a usage error (exit status 2).
Keys are read from stdin, never from the command line, so
they stay out of shell history and process listings.
`,
	run: runHash,
}

func runHash(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if fs.NArg() > 0 {
		return c.usageError(e, "keys are read from stdin, not from arguments")
	}
	sc := bufio.NewScanner(e.stdin)
	n := 0
	for sc.Scan() {
		key := strings.TrimSpace(sc.Text())
		if key == "" {
			continue
		}
		fmt.Fprintln(e.stdout, keymat.Hash(key))
		n++
	}
	if err := sc.Err(); err != nil {
		return c.errorf(e, "reading stdin: %v", err)
	}
	if n == 0 {
		// Nothing to do is a usage error (exit 2), like a missing argument.
		return c.usageError(e, "no keys on stdin")
	}
	return exitOK
}

var verifyFormatCmd = &command{
	name:     "verify-format",
	synopsis: "verify-format [--prefix agk_] [KEY | -]",
	summary:  "check a key's prefix, length, alphabet and checksum",
	help: `
Verify-format checks that a key is well-formed: it starts with the prefix,
has 32 base62 characters and a 6-character checksum, and the checksum
matches. It cannot tell whether the key is known to a configuration: only
the hash of the key is there. The key is read from stdin when the argument
is "-" or missing (preferred: arguments show in shell history and process
listings). The key is never printed.

Exit status: 0 well-formed, 1 not, 2 usage error.
`,
	run: runVerifyFormat,
}

func runVerifyFormat(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	prefix := fs.String("prefix", "agk_", "expected key prefix (key_format.prefix)")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	var key string
	switch {
	case fs.NArg() > 1:
		return c.usageError(e, "want one key")
	case fs.NArg() == 1 && fs.Arg(0) != "-":
		key = fs.Arg(0)
	default:
		b, err := io.ReadAll(io.LimitReader(e.stdin, 4096))
		if err != nil {
			return c.errorf(e, "reading stdin: %v", err)
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" {
		return c.usageError(e, "no key given")
	}
	if err := keymat.CheckFormat(*prefix, key); err != nil {
		fmt.Fprintf(e.stdout, "invalid: %s\n", formatProblem(err, *prefix))
		return exitFail
	}
	fmt.Fprintf(e.stdout, "ok: well-formed key with prefix %q and a valid checksum\n", *prefix)
	return exitOK
}

// formatProblem explains a CheckKeyFormat error without the key.
func formatProblem(err error, prefix string) string {
	switch {
	case errors.Is(err, keymat.ErrPrefix):
		return fmt.Sprintf("the key does not start with %q", prefix)
	case errors.Is(err, keymat.ErrLength):
		return fmt.Sprintf("the key has the wrong length (want %d characters)", len(prefix)+38)
	case errors.Is(err, keymat.ErrCharset):
		return "the key has a character outside 0-9, A-Z, a-z after the prefix"
	case errors.Is(err, keymat.ErrChecksum):
		return "the checksum does not match (a mistyped or truncated key?)"
	}
	return strings.TrimPrefix(err.Error(), "policy: ")
}
