package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// A Version is an Envoy release number.
type Version struct{ Major, Minor, Patch int }

// MinEnvoyVersion is the oldest Envoy the suite supports: the Wasm
// filter's failure_policy, which envoy.yaml uses, first appeared in 1.33.
var MinEnvoyVersion = Version{1, 33, 0}

// Less reports whether v is an older release than o.
func (v Version) Less(o Version) bool {
	if v.Major != o.Major {
		return v.Major < o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor < o.Minor
	}
	return v.Patch < o.Patch
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// envoyVersionRE matches the release in `envoy --version` output such as
// "envoy  version: 6d9bb7d/1.33.2/Clean/RELEASE/BoringSSL" (or
// ".../1.34.0-dev/Modified/DEBUG/...").
var (
	envoyVersionRE = regexp.MustCompile(`version:\s*[0-9a-fA-F]*/(\d+)\.(\d+)\.(\d+)`)
	looseVersionRE = regexp.MustCompile(`\b(\d+)\.(\d+)\.(\d+)\b`)
)

// ParseEnvoyVersion extracts the release number from the output of
// `envoy --version`.
func ParseEnvoyVersion(out string) (Version, error) {
	m := envoyVersionRE.FindStringSubmatch(out)
	if m == nil {
		m = looseVersionRE.FindStringSubmatch(out)
	}
	if m == nil {
		return Version{}, fmt.Errorf("no version number in %q", out)
	}
	var v Version
	var err error
	for i, p := range []*int{&v.Major, &v.Minor, &v.Patch} {
		if *p, err = strconv.Atoi(m[i+1]); err != nil {
			return Version{}, fmt.Errorf("version %q: %v", m[0], err)
		}
	}
	return v, nil
}

// HowToGetEnvoy says how to install Envoy; skip messages end with it.
const HowToGetEnvoy = "Install Envoy >= 1.33 and rerun with `make build e2e` (or ENVOY_BIN=/path/to/envoy go test ./e2e): " +
	"from Envoy's official apt repository (see https://www.envoyproxy.io/docs/envoy/latest/start/install), " +
	"with func-e (`func-e use 1.33.2`, then ENVOY_BIN=$(func-e which)), " +
	"or from the envoyproxy/envoy image (e.g. envoyproxy/envoy:v1.33-latest, whose binary is /usr/local/bin/envoy)."

// ErrNoEnvoy means there is no usable Envoy; tests skip on it.
var ErrNoEnvoy = errors.New("no usable Envoy")

// FindEnvoy returns the Envoy binary named by $ENVOY_BIN, or else the
// envoy on PATH, with its version. It returns an error wrapping ErrNoEnvoy
// when there is none or the one on PATH is older than MinEnvoyVersion, and
// another error when $ENVOY_BIN names something that does not run or is too
// old: an Envoy asked for by name is a mistake to report, not a reason to
// skip (a CI job would otherwise pass with every real-Envoy test skipped).
func FindEnvoy(ctx context.Context) (string, Version, error) {
	bin := os.Getenv("ENVOY_BIN")
	if bin == "" {
		p, err := exec.LookPath("envoy")
		if err != nil {
			return "", Version{}, fmt.Errorf("%w: envoy is not on PATH and ENVOY_BIN is not set", ErrNoEnvoy)
		}
		bin = p
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "", Version{}, fmt.Errorf("%s --version: %v\n%s", bin, err, out)
	}
	v, err := ParseEnvoyVersion(string(out))
	if err != nil {
		return "", Version{}, fmt.Errorf("%s --version: %v", bin, err)
	}
	if v.Less(MinEnvoyVersion) {
		if os.Getenv("ENVOY_BIN") != "" {
			return bin, v, fmt.Errorf("ENVOY_BIN=%s is Envoy %s, older than %s", bin, v, MinEnvoyVersion)
		}
		return bin, v, fmt.Errorf("%w: %s is Envoy %s, older than %s", ErrNoEnvoy, bin, v, MinEnvoyVersion)
	}
	return bin, v, nil
}
