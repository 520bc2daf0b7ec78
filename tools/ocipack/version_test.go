package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestVersionFileDrivesEveryBuild: the commands make would run for the CLI,
// the filter and the OCI image (make -n -B: printed, not run) all take
// their version from the file VERSION: the CLI's and the module's
// buildinfo.version (which apiguard version prints and the filter's
// apiguard.build.<version> gauge carries), and ocipack's -tag and -version.
// The compiled filter itself reports it (cmd/apiguard's
// TestFilterReportsVersionFile).
func TestVersionFileDrivesEveryBuild(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed: the Makefile cannot be read")
	}
	version := versionFile(t)
	cmd := exec.Command("make", "-n", "-B", "cli", "oci")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(filteredEnv("VERSION", "OCITAG", "MAKEFLAGS"), "MAKEFLAGS=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("make -n -B cli oci: %v\n%s", err, out.String())
	}
	text := strings.ReplaceAll(out.String(), "\\\n", " ")
	checks := []struct {
		what string
		re   *regexp.Regexp
	}{
		{"the CLI's build", regexp.MustCompile(`go build .*buildinfo\.version=(\S+) .*-o build/apiguard \./cmd/apiguard`)},
		{"the filter's build", regexp.MustCompile(`GOOS=wasip1 .*buildinfo\.version=(\S+) .*\./filter\n`)},
		{"ocipack -tag", regexp.MustCompile(`tools/ocipack .*-tag (\S+)`)},
		{"ocipack -version", regexp.MustCompile(`tools/ocipack .*-version (\S+)`)},
	}
	for _, c := range checks {
		m := c.re.FindStringSubmatch(text)
		if m == nil {
			t.Errorf("%s: no command matching %s in:\n%s", c.what, c.re, text)
			continue
		}
		if got := strings.Trim(m[1], "'"); got != version {
			t.Errorf("%s uses version %q, VERSION says %q", c.what, got, version)
		}
	}
}

// filteredEnv returns the environment without the variables names, so that
// the Makefile's own defaults apply.
func filteredEnv(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || name == n
		}
		if !drop {
			env = append(env, kv)
		}
	}
	return env
}
