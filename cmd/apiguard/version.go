package main

import (
	"fmt"
	"runtime"

	"github.com/apiguard/apiguard/internal/buildinfo"
)

var versionCmd = &command{
	name:     "version",
	synopsis: "version",
	summary:  "print the version and commit this tool was built from",
	help: `
Version prints the version (the repository's file VERSION at build time),
the commit and the Go toolchain this tool was built with, as

  apiguard VERSION commit COMMIT (GO-VERSION)

"apiguard --version" prints the same. "make cli" builds build/apiguard with
the version from VERSION and the commit from git; a plain go build or go run
says "dev" (and the commit Go stamped, when it stamped one). The
filter logs the same pair at start ("apiguard: build version=... commit=...")
and exports the gauge apiguard.build.<version>.
`,
	run: runVersion,
}

func runVersion(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if fs.NArg() > 0 {
		return c.usageError(e, "version takes no arguments")
	}
	fmt.Fprintf(e.stdout, "apiguard %s commit %s (%s)\n", buildinfo.Version(), buildinfo.Commit(), runtime.Version())
	return exitOK
}
