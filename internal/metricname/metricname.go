// Package metricname is the one table of the metrics the filter defines
// through proxy-wasm. The filter declares its counters and gauges from
// these names, apiguard replay reads the filter's counters by them, and the
// tests of the dashboard, the alert rules and docs/operations.md's Metrics
// table check against All: a metric is named here and nowhere else.
//
// Envoy prefixes proxy-wasm metrics with "wasmcustom." in its stats and
// shows them on /stats/prometheus with dots turned into underscores, e.g.
// apiguard_decision_allowed.
//
// The names of families (a prefix plus a reason, an outcome or a cause) are
// built once, into package variables, so that they live as long as the
// module: the SDK's emulator (proxytest) keeps a metric's name as a view of
// the module's memory rather than a copy, so a name the collector freed and
// reused would change under it (Envoy copies the name).
package metricname

import (
	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keyfetch"
)

// Prefix starts every name.
const Prefix = "apiguard."

// The metrics.
const (
	// DecisionPrefix + policy.Reason: one counter per decision reason
	// (Decision).
	DecisionPrefix = Prefix + "decision."
	// ShadowWouldDeny counts, in shadow mode, the denials not enforced.
	ShadowWouldDeny = Prefix + "shadow.would_deny"
	// ConfigErrors counts configuration errors at plugin start.
	ConfigErrors   = Prefix + "config.errors"
	CASRetries     = Prefix + "ratelimit.cas_retries"
	CASExhausted   = Prefix + "ratelimit.cas_exhausted"
	StoreErrors    = Prefix + "ratelimit.store_errors"
	InternalErrors = Prefix + "internal_errors" // recovered panics, missing policy
	// TokensMinted counts identity tokens signed (not reused);
	// TokenFailures the requests failed (500) for want of a token.
	TokensMinted  = Prefix + "identity_token.minted"
	TokenFailures = Prefix + "identity_token.signing_failures"
	// KeysExpiring is the gauge of the keys expiring within
	// key_policy.expiry_warning (filter/key_expiry.go).
	KeysExpiring = Prefix + "keys.expiring"
	// Sealed cursors (filter/cursor_seal.go): responses sealed, and
	// responses that could not be and were replaced by a problem document.
	CursorSealed     = Prefix + "cursor.sealed"
	CursorSealFailed = Prefix + "cursor.seal_failed"
	// The key store (filter/keystore.go): gauges of the snapshot in use
	// (generation, 0 for none; seconds since it was built; its keys), and
	// counters of fetches by keyfetch.Outcome (KeyStoreFetch) and of
	// rejected snapshots by policy.LoadCause (KeyStoreReject).
	KeyStoreGeneration   = Prefix + "key_store.generation"
	KeyStoreAge          = Prefix + "key_store.age_seconds"
	KeyStoreKeys         = Prefix + "key_store.keys"
	KeyStoreFetchPrefix  = Prefix + "key_store.fetch."
	KeyStoreRejectPrefix = Prefix + "key_store.reject."
	// BuildPrefix + version: the gauge naming the build
	// (internal/buildinfo.MetricName sanitizes the version).
	BuildPrefix = Prefix + "build."
)

// Kind is a metric's proxy-wasm kind.
type Kind uint8

// Kinds.
const (
	Counter Kind = iota + 1
	Gauge
)

func (k Kind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	}
	return ""
}

// Metric is one metric the filter defines.
type Metric struct {
	Name string
	Kind Kind
}

// singles lists the metrics that are not a family, with their kind.
var singles = []Metric{
	{ShadowWouldDeny, Counter}, {ConfigErrors, Counter},
	{CASRetries, Counter}, {CASExhausted, Counter}, {StoreErrors, Counter},
	{InternalErrors, Counter}, {TokensMinted, Counter}, {TokenFailures, Counter},
	{KeysExpiring, Gauge}, {CursorSealed, Counter}, {CursorSealFailed, Counter},
	{KeyStoreGeneration, Gauge}, {KeyStoreAge, Gauge}, {KeyStoreKeys, Gauge},
}

var (
	decisions = func() map[policy.Reason]string {
		m := make(map[policy.Reason]string)
		for _, r := range policy.Reasons() {
			m[r] = DecisionPrefix + string(r)
		}
		return m
	}()
	fetches = func() (names [keyfetch.NumOutcomes]string) {
		for _, o := range keyfetch.Outcomes() {
			names[o] = KeyStoreFetchPrefix + o.String()
		}
		return names
	}()
	rejects = func() (names [policy.NumLoadCauses]string) {
		for _, c := range policy.LoadCauses() {
			names[c] = KeyStoreRejectPrefix + c.String()
		}
		return names
	}()
)

// Decision returns the name of the decision counter of r, "" for a string
// that is not a policy.Reason.
func Decision(r policy.Reason) string { return decisions[r] }

// KeyStoreFetch returns the name of the fetch counter of o, "" for no
// outcome.
func KeyStoreFetch(o keyfetch.Outcome) string {
	if int(o) < len(fetches) {
		return fetches[o]
	}
	return ""
}

// KeyStoreReject returns the name of the reject counter of c, "" for no
// cause.
func KeyStoreReject(c policy.LoadCause) string {
	if int(c) < len(rejects) {
		return rejects[c]
	}
	return ""
}

// All returns every metric the filter defines but the build gauge, whose
// name depends on the build: the families expanded.
func All() []Metric {
	var all []Metric
	for _, r := range policy.Reasons() {
		all = append(all, Metric{Decision(r), Counter})
	}
	all = append(all, singles...)
	for _, o := range keyfetch.Outcomes() {
		all = append(all, Metric{KeyStoreFetch(o), Counter})
	}
	for _, c := range policy.LoadCauses() {
		all = append(all, Metric{KeyStoreReject(c), Counter})
	}
	return all
}
