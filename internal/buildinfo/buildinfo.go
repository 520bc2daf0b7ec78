// Package buildinfo holds the version and commit apiguard was built from.
//
// The Makefile sets both with the linker when it builds the filter and the
// command-line tool:
//
//	-ldflags '-X github.com/apiguard/apiguard/internal/buildinfo.version=v0.1.0
//	          -X github.com/apiguard/apiguard/internal/buildinfo.commit=abc1234...'
//
// from the repository's file VERSION (which also tags the OCI image, make
// oci) and git rev-parse. A build made without them (go build,
// go run, go test, or a tree outside git) reports "dev", and the commit the
// Go toolchain stamped into the binary when there is one, else "unknown".
package buildinfo

import (
	"runtime/debug"
	"strings"

	"github.com/apiguard/apiguard/internal/metricname"
)

// Set by the linker (-X); empty in a plain go build.
var (
	version string
	commit  string
)

// Fallbacks when the linker set nothing.
const (
	unknownVersion = "dev"
	unknownCommit  = "unknown"
)

// Version returns the build's version: the file VERSION at build time, or
// "dev".
func Version() string {
	if version == "" {
		return unknownVersion
	}
	return version
}

// Commit returns the full commit hash the build was made from, or
// "unknown". Without a linker-set commit it falls back on the vcs.revision
// the Go toolchain records in binaries built inside a git checkout.
func Commit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return unknownCommit
}

// MetricName returns the name of the gauge that carries the version in its
// name, "apiguard.build.<version>", with every character Envoy's stats and
// Prometheus would mangle (anything but letters, digits, '_' and '-')
// replaced by '_', so that the name has no further dot and the tag regex in
// envoy.yaml can cut the version out as a label.
func MetricName() string {
	return MetricNameFor(Version())
}

// MetricNameFor is MetricName for a given version, for tests that read the
// version from a module's log.
func MetricNameFor(version string) string {
	return metricname.BuildPrefix + sanitize(version)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}
