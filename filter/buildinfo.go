package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/internal/buildinfo"
)

// buildMetricName is the gauge that tells which build a proxy runs:
// apiguard.build.<version>, 1 for each live plugin instance (one per worker
// VM) of that build. A package variable, so that the name outlives every
// VM that defined it (see internal/metricname).
var buildMetricName = buildinfo.MetricName()

// buildLogFormat is the start line naming the build; docs/operations.md quotes it.
const buildLogFormat = "apiguard: build version=%s commit=%s"

// announceBuild logs the build's version and commit and counts this plugin
// instance on the build gauge. The returned gauge is decremented by
// OnPluginDone, so that an old build's gauge falls back to 0 once its VMs
// are gone.
func announceBuild() proxywasm.MetricGauge {
	proxywasm.LogInfof(buildLogFormat, buildinfo.Version(), buildinfo.Commit())
	g := proxywasm.DefineGaugeMetric(buildMetricName)
	g.Add(1)
	return g
}
