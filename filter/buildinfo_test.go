package main

import (
	"regexp"
	"testing"

	"github.com/apiguard/apiguard/internal/buildinfo"
	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
)

// buildLine is the start line naming the build (buildLogFormat).
var buildLine = regexp.MustCompile(`^apiguard: build version=(\S+) commit=(\S+)$`)

// TestBuildAnnouncedAtStart: every plugin start logs its version and commit
// and sets the apiguard.build.<version> gauge to 1, which OnPluginDone takes
// back to 0. The compiled module reports what the Makefile's -ldflags put in.
func TestBuildAnnouncedAtStart(t *testing.T) {
	cfg := testConfig(t, newTestKeys(t), nil)
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, cfg)
		var version string
		for _, l := range e.logs(logInfo) {
			if m := buildLine.FindStringSubmatch(l); m != nil {
				version = m[1]
			}
		}
		if version == "" {
			t.Fatalf("no line matching %s in the info logs %q", buildLine, e.logs(logInfo))
		}
		name := buildinfo.MetricNameFor(version)
		// Envoy's configuration canary (cpphost models it, the SDK's
		// emulator has none) starts the plugin once more on the main
		// thread and is destroyed without proxy_on_done: its instance
		// stays on the gauge (docs/operations.md, "Versions").
		canaries := int64(0)
		if c, ok := e.d.(driver.Canary); ok {
			canaries = int64(c.Canaries())
		}
		if n := e.gauge(name); n != 1+canaries {
			t.Fatalf("gauge %s = %d, want 1 after start (+%d for the configuration canary)", name, n, canaries)
		}
		e.finishVM()
		if n := e.gauge(name); n != canaries {
			t.Errorf("gauge %s = %d, want 0 after the plugin is done (+%d for the configuration canary)", name, n, canaries)
		}
	})
}
