package main

import (
	"regexp"
	"testing"
)

func TestVersion(t *testing.T) {
	r := apiguard(t, "", "version")
	r.wantCode(t, exitOK)
	// go test sets no -ldflags: the fallbacks show.
	if !regexp.MustCompile(`^apiguard dev commit \S+ \(go\S+\)\n$`).MatchString(r.stdout) {
		t.Errorf("version printed %q", r.stdout)
	}
	apiguard(t, "", "version", "extra").wantCode(t, exitError)
}
