package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/policy"
)

// metrics holds the plugin's counters, named in internal/metricname.
// proxy-wasm metrics are defined per VM and aggregated by the host, so every
// VM defines the same names.
type metrics struct {
	decisions       []proxywasm.MetricCounter // by policy.ReasonIndex
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
		shadowWouldDeny: proxywasm.DefineCounterMetric(metricname.ShadowWouldDeny),
		configErrors:    proxywasm.DefineCounterMetric(metricname.ConfigErrors),
		casRetries:      proxywasm.DefineCounterMetric(metricname.CASRetries),
		casExhausted:    proxywasm.DefineCounterMetric(metricname.CASExhausted),
		storeErrors:     proxywasm.DefineCounterMetric(metricname.StoreErrors),
		internalErrors:  proxywasm.DefineCounterMetric(metricname.InternalErrors),
		tokensMinted:    proxywasm.DefineCounterMetric(metricname.TokensMinted),
		tokenFailures:   proxywasm.DefineCounterMetric(metricname.TokenFailures),
	}
	for _, r := range policy.Reasons() {
		m.decisions = append(m.decisions, proxywasm.DefineCounterMetric(metricname.Decision(r)))
	}
	return m
}

func (m *metrics) decision(r policy.Reason) {
	if i := policy.ReasonIndex(r); i >= 0 && i < len(m.decisions) {
		m.decisions[i].Increment(1)
	}
}
