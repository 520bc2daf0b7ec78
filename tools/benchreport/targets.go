package main

import (
	"fmt"
	"strings"
)

// A target is one figure of the performance issue (#25) with the
// build/bench.json name it is written under and its goal.
type target struct {
	what, json string
	value      func(h Headline) float64
	unit       string
	goal       float64 // at most
	// measured tells whether the run measured the figure; nil: when its
	// value is not 0, which no measured time or ratio is.
	measured func(h Headline) bool
}

var targets25 = []target{
	{"allowed request / floor", "allowed_ratio", func(h Headline) float64 { return h.AllowedRatio }, "×", 1.5, nil},
	{"401 / floor", "denied_ratio_401", func(h Headline) float64 { return h.DeniedRatio401 }, "×", 1.5, nil},
	{"401, a new unknown key every request / floor", "denied_ratio_401_new_key", func(h Headline) float64 { return h.DeniedRatio401NewKey }, "×", 1.5, nil},
	{"403 / floor", "denied_ratio_403", func(h Headline) float64 { return h.DeniedRatio403 }, "×", 1.5, nil},
	{"400 / floor", "denied_ratio_400", func(h Headline) float64 { return h.DeniedRatio400 }, "×", 1.5, nil},
	{"429 / floor", "denied_ratio_429", func(h Headline) float64 { return h.DeniedRatio429 }, "×", 1.5, nil},
	{"clamped request / floor", "clamp_ratio", func(h Headline) float64 { return h.ClampRatio }, "×", 1.5, nil},
	{"allocations per allowed request", "allocs_allowed", func(h Headline) float64 { return h.AllocsAllowed }, "", 2,
		func(h Headline) bool { return h.allocsMeasured }},
	{"plugin start, 10k inline keys", "start_s_10k", func(h Headline) float64 { return h.StartS10k }, " s", 0.15, nil},
	{"plugin start, 100k inline keys", "start_s_100k", func(h Headline) float64 { return h.StartS100k }, " s", 1, nil},
	{"steady traffic at 100k keys: longest request (CPU)", "longest_ms_100k", func(h Headline) float64 { return h.LongestMs100k }, " ms", 1, nil},
	{"steady traffic at 100k keys: p99.9 (CPU)", "p999_ms_100k", func(h Headline) float64 { return h.P999Ms100k }, " ms", 0.15, nil},
	{"key store, 1M keys: load (CPU)", "key_store_load_ms_1m", func(h Headline) float64 { return h.KSLoadMs1M }, " ms", 1500, nil},
	{"key store, 1M keys: longest callback of a reload", "key_store_reload_longest_callback_ms_1m", func(h Headline) float64 { return h.KSReloadMaxCbMs1M }, " ms", 20, nil},
	{"native `Decide`, 100k keys / 1000 routes", "decide_native_ns", func(h Headline) float64 { return h.DecideNativeNs }, " ns", 500, nil},
}

// targets renders the figures against their targets, with their
// names in build/bench.json; figures the run did not measure show "–".
func targets(h Headline) string {
	var b strings.Builder
	b.WriteString("\n## Targets of the performance issue (#25)\n\nEach ratio is taken within one run (the floor and the filter interleaved in blocks of ten requests, medians); the names are the keys of build/bench.json.\n\n| figure | bench.json | measured | target |\n|---|---|---:|---|\n")
	for _, t := range targets25 {
		v := t.value(h)
		if t.measured == nil && v == 0 || t.measured != nil && !t.measured(h) {
			fmt.Fprintf(&b, "| %s | `%s` | – | ≤ %s%s |\n", t.what, t.json, fmtNum(t.goal), t.unit)
			continue
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s%s | ≤ %s%s %s |\n", t.what, t.json, fmtNum(v), t.unit, fmtNum(t.goal), t.unit, check(v <= t.goal))
	}
	return b.String()
}

// startPhaseNames are BenchmarkPluginStartPhases's steps, in order.
var startPhaseNames = []struct{ unit, what string }{
	{"read", "read the configuration"},
	{"check", "check the JSON document"},
	{"parse", "parse into the config structures"},
	{"gc", "collections (between parse and build, before serving)"},
	{"build", "build consumers, key index, routes"},
	{"buckets", "prepare the rate-limit buckets (shared data)"},
	{"rest", "the rest (collections while a step allocates, runtime, glue)"},
}

// startPhases renders the plugin start by phase, or "" when the run has
// none.
func startPhases(r results) string {
	var keys []string
	for _, k := range []string{"10000", "100000"} {
		if r.runs("PluginStartPhases/keys="+k) > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Plugin start by phase (profiling build, cpphost, wazero listeners)\n\n| phase | " + strings.Join(keys, " keys ms | ") + " keys ms |\n|---|" + strings.Repeat("---:|", len(keys)) + "\n")
	row := func(label, unit string) {
		b.WriteString("| " + label + " |")
		for _, k := range keys {
			n := "PluginStartPhases/keys=" + k
			v, _ := r.get(n, unit)
			total, _ := r.get(n, "start-ms")
			if unit == "start-ms" || total == 0 {
				b.WriteString(" " + fmtNum(v) + " |")
				continue
			}
			fmt.Fprintf(&b, " %s (%.0f %%) |", fmtNum(v), 100*v/total)
		}
		b.WriteString("\n")
	}
	row("**proxy_on_configure**", "start-ms")
	for _, p := range startPhaseNames {
		row(p.what, p.unit+"-ms")
	}
	return b.String()
}
