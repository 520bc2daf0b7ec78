package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/policy"
)

// Metric names. Envoy prefixes proxy-wasm metrics with "wasmcustom." in its
// stats and shows them on /stats/prometheus with dots turned into
// underscores, e.g. apiguard_decision_allowed.
const (
	metricDecisionPrefix  = "apiguard.decision."         // + reason: one counter per decision reason
	metricShadowWouldDeny = "apiguard.shadow.would_deny" // shadow mode: denials not enforced
	metricConfigErrors    = "apiguard.config.errors"     // configuration errors at plugin start
	metricCASRetries      = "apiguard.ratelimit.cas_retries"
	metricCASExhausted    = "apiguard.ratelimit.cas_exhausted"
	metricStoreErrors     = "apiguard.ratelimit.store_errors"
	metricInternalErrors  = "apiguard.internal_errors"                 // recovered panics, missing policy
	metricTokensMinted    = "apiguard.identity_token.minted"           // identity tokens signed (not reused)
	metricTokenFailures   = "apiguard.identity_token.signing_failures" // requests failed (500) for want of a token
	metricKeysExpiring    = "apiguard.keys.expiring"                   // gauge: keys expiring within key_policy.expiry_warning (key_expiry.go)
	// Sealed cursors (cursor_seal.go): responses sealed, and responses
	// that could not be and were replaced by a problem document.
	metricCursorSealed     = "apiguard.cursor.sealed"
	metricCursorSealFailed = "apiguard.cursor.seal_failed"
)

// metrics holds the plugin's counters. proxy-wasm metrics are defined per VM
// and aggregated by the host, so every VM defines the same names.
type metrics struct {
	decisions       map[policy.Reason]proxywasm.MetricCounter
	shadowWouldDeny proxywasm.MetricCounter
	configErrors    proxywasm.MetricCounter
	casRetries      proxywasm.MetricCounter
	casExhausted    proxywasm.MetricCounter
	storeErrors     proxywasm.MetricCounter
	internalErrors  proxywasm.MetricCounter
	tokensMinted    proxywasm.MetricCounter
	tokenFailures   proxywasm.MetricCounter
}

func newMetrics() *metrics {
	m := &metrics{
		decisions:       make(map[policy.Reason]proxywasm.MetricCounter),
		shadowWouldDeny: proxywasm.DefineCounterMetric(metricShadowWouldDeny),
		configErrors:    proxywasm.DefineCounterMetric(metricConfigErrors),
		casRetries:      proxywasm.DefineCounterMetric(metricCASRetries),
		casExhausted:    proxywasm.DefineCounterMetric(metricCASExhausted),
		storeErrors:     proxywasm.DefineCounterMetric(metricStoreErrors),
		internalErrors:  proxywasm.DefineCounterMetric(metricInternalErrors),
		tokensMinted:    proxywasm.DefineCounterMetric(metricTokensMinted),
		tokenFailures:   proxywasm.DefineCounterMetric(metricTokenFailures),
	}
	for r, name := range decisionMetricNames {
		m.decisions[r] = proxywasm.DefineCounterMetric(name)
	}
	return m
}

// decisionMetricNames holds the name of each decision counter. The names
// are package variables so that they live as long as the module: the SDK's
// emulator (proxytest) keeps a metric's name as a view of the module's
// memory rather than a copy, so a name the collector freed and reused would
// change under it (Envoy copies the name).
var decisionMetricNames = func() map[policy.Reason]string {
	names := make(map[policy.Reason]string)
	for _, r := range policy.Reasons() {
		names[r] = metricDecisionPrefix + string(r)
	}
	return names
}()

func (m *metrics) decision(r policy.Reason) {
	if c, ok := m.decisions[r]; ok {
		c.Increment(1)
	}
}
