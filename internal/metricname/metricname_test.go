package metricname

import (
	"regexp"
	"testing"

	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keyfetch"
)

// The characters Envoy's stats and Prometheus keep as they are (besides the
// dots, which become '_'), so that every name maps to one Prometheus name.
var nameRE = regexp.MustCompile(`^apiguard\.[a-z_]+(\.[a-z_]+)*$`)

func TestAllNamesAreDistinctAndWellFormed(t *testing.T) {
	all := All()
	seen := map[string]bool{}
	for _, m := range all {
		if !nameRE.MatchString(m.Name) || m.Kind.String() == "" {
			t.Errorf("metric %+v: bad name or kind", m)
		}
		if seen[m.Name] {
			t.Errorf("metric %s is listed twice", m.Name)
		}
		seen[m.Name] = true
	}
	if want := len(singles) + len(policy.Reasons()) + len(keyfetch.Outcomes()) + len(policy.LoadCauses()); len(all) != want {
		t.Errorf("All has %d metrics, want %d", len(all), want)
	}
}

func TestFamilies(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Decision(policy.ReasonRateLimited), "apiguard.decision.rate_limited"},
		{Decision("nope"), ""},
		{KeyStoreFetch(keyfetch.NotModified), "apiguard.key_store.fetch.not_modified"},
		{KeyStoreFetch(0), ""},
		{KeyStoreReject(policy.CauseWrongAudience), "apiguard.key_store.reject.wrong_audience"},
		{KeyStoreReject(0), ""},
		{KeyStoreReject(policy.LoadCause(policy.NumLoadCauses)), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
