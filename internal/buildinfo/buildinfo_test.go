package buildinfo

import "testing"

func TestFallbacks(t *testing.T) {
	old := version
	defer func() { version = old }()
	version = ""
	if got := Version(); got != unknownVersion {
		t.Errorf("Version() without ldflags = %q, want %q", got, unknownVersion)
	}
	version = "v1.2.3-4-gabcdef0-dirty"
	if got := Version(); got != version {
		t.Errorf("Version() = %q, want %q", got, version)
	}
	if Commit() == "" {
		t.Error("Commit() is empty; want a hash or \"unknown\"")
	}
}

func TestMetricNameHasNoExtraDots(t *testing.T) {
	old := version
	defer func() { version = old }()
	version = "v1.2.3-4-gabc/x y"
	if got, want := MetricName(), "apiguard.build.v1_2_3-4-gabc_x_y"; got != want {
		t.Errorf("MetricName() = %q, want %q", got, want)
	}
}
