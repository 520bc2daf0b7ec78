package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// The attribution table: BenchmarkHostAttribution's groups
// (filter/attribution_bench_test.go) per case, as rows nested the way the
// calls nest. A row's figure is a group's time, or a parent's time less its
// children's ("rest of ...").

const attributionBench = "HostAttribution/case="

// attributionCases are the table's columns: BenchmarkHostRequest's cases
// and the 401 with a new key in every request.
var attributionCases = append(slices.Clip(hostCases), "401-new-key")

// attrRow is one row: label, depth, and how to compute its µs from the
// case's metrics.
type attrRow struct {
	label string
	depth int
	us    func(m func(string) float64) float64
	calls string // slug whose -calls to show, "" for none
}

func slug(s string) func(m func(string) float64) float64 {
	return func(m func(string) float64) float64 { return m(s + "-us") }
}

func rest(whole string, parts ...string) func(m func(string) float64) float64 {
	return func(m func(string) float64) float64 {
		v := m(whole + "-us")
		for _, p := range parts {
			v -= m(p + "-us")
		}
		return max(0, v)
	}
}

var attrRows = []attrRow{
	{"outside the callbacks: cpphost's request driver, wazero's calls into the module", 0, func(m func(string) float64) float64 {
		return max(0, m("us/req")-m("callbacks-us"))
	}, ""},
	{"callbacks in the module (`proxy_on_*`, inclusive)", 0, slug("callbacks"), "callbacks"},
	{"Go runtime: entering and leaving a callback (go:wasmexport), the bridge", 1, rest("callbacks", "sdk-callbacks"), ""},
	{"SDK: dispatch to the contexts", 1, rest("sdk-callbacks", "on-request", "on-response", "on-other"), "sdk-callbacks"},
	{"`OnHttpRequestHeaders`", 1, slug("on-request"), ""},
	{"read the request headers (host call and decoding every pair)", 2, slug("headers"), ""},
	{"of which decoding the pairs (`decodePairs`)", 3, slug("decode"), ""},
	{"request time and client IP (2 `proxy_get_property`)", 2, slug("properties"), ""},
	{"`policy.Decide`", 2, slug("decide"), ""},
	{"key extraction (`findCredentials`)", 3, slug("key-extract"), ""},
	{"of which the key's header sources, one walk (`headerCredentials`)", 4, slug("key-headers"), ""},
	{"of which the query, one pass (`scanQuery`)", 4, slug("query-scan"), ""},
	{"key lookup and checks (`lookup`)", 3, slug("key-lookup"), ""},
	{"of which SHA-256 of the key", 4, slug("sha256"), ""},
	{"route match (and path normalisation)", 3, slug("route"), ""},
	{"pagination check and path rewrite", 3, slug("query"), ""},
	{"scope check and its denial", 3, slug("scope"), ""},
	{"rest of `Decide`", 3, rest("decide", "key-extract", "key-lookup", "route", "query", "scope"), ""},
	{"rate-limit bucket (`proxy_get_shared_data`, CAS `proxy_set_shared_data`)", 2, slug("bucket"), ""},
	{"the 429 decision (`RateLimitedWith`)", 2, slug("ratelimited"), ""},
	{"filter state (access-log record, `proxy_set_property`)", 2, slug("filterstate"), ""},
	{"identity and credential headers (remove, replace)", 2, slug("identity"), ""},
	{"denial: JSON log line", 2, slug("denial-log"), ""},
	{"denial: problem+json and `proxy_send_local_response`", 2, slug("denial-reply"), ""},
	{"of which serialising a new reply (`buildReply`)", 3, slug("encode"), ""},
	{"rest of the handler (metrics, shadow checks, glue)", 2, rest("on-request", "headers", "properties", "decide", "bucket", "ratelimited",
		"filterstate", "identity", "denial-log", "denial-reply"), ""},
	{"`OnHttpResponseHeaders` (RateLimit headers)", 1, slug("on-response"), ""},
	{"other handlers (context creation, stream end)", 1, slug("on-other"), ""},
}

// attribution renders the attribution table, or "" when the run has none.
func attribution(r results) string {
	var cases []string
	for _, c := range attributionCases {
		if r.runs(attributionBench+c) > 0 {
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| µs per request (share of the request) | " + strings.Join(cases, " | ") + " |\n|---|" + strings.Repeat("---:|", len(cases)) + "\n")
	row := func(label string, cell func(c string, m func(string) float64) string) {
		b.WriteString("| " + label + " |")
		for _, c := range cases {
			m := func(unit string) float64 { v, _ := r.get(attributionBench+c, unit); return v }
			b.WriteString(" " + cell(c, m) + " |")
		}
		b.WriteString("\n")
	}
	row("**request, filter (profiling build, no listeners)**", func(_ string, m func(string) float64) string {
		return "**" + fmtNum(m("us/req")) + "**"
	})
	row("floor plugin, same run", func(_ string, m func(string) float64) string { return fmtNum(m("floor-us")) })
	row("filter / floor", func(_ string, m func(string) float64) string { return fmtNum(m("x-floor")) + "×" })
	share := func(v, total float64) string {
		if total <= 0 {
			return fmtNum(v)
		}
		return fmt.Sprintf("%s (%.0f %%)", fmtNum(v), 100*v/total)
	}
	for _, a := range attrRows {
		indent := strings.Repeat("· ", a.depth)
		row(indent+a.label, func(_ string, m func(string) float64) string {
			v := a.us(m)
			if v == 0 {
				return "–"
			}
			return share(v, m("us/req"))
		})
	}
	row("**heap, across the rows above**: allocation (`mallocgc`, calls)", func(_ string, m func(string) float64) string {
		return share(m("alloc-us"), m("us/req")) + " ×" + fmtCount(m("alloc-calls"))
	})
	row("**heap**: the collector's workers (mark, sweep, scavenge)", func(_ string, m func(string) float64) string {
		return share(m("gc-us"), m("us/req"))
	})
	// Host calls, across the rows above.
	var hosts []string
	for _, c := range cases {
		for unit := range r.by[attributionBench+c] {
			if name, ok := strings.CutPrefix(unit, "host:"); ok {
				if fn, ok := strings.CutSuffix(name, "-us"); ok && !slices.Contains(hosts, fn) {
					hosts = append(hosts, fn)
				}
			}
		}
	}
	slices.Sort(hosts)
	row("**host calls, across the rows above** (µs, calls)", func(_ string, m func(string) float64) string {
		var us, n float64
		for _, h := range hosts {
			us += m("host:" + h + "-us")
			n += m("host:" + h + "-calls")
		}
		return share(us, m("us/req")) + " ×" + fmtCount(n)
	})
	for _, h := range hosts {
		row("· `"+h+"`", func(_ string, m func(string) float64) string {
			if m("host:"+h+"-calls") == 0 {
				return "–"
			}
			return fmtNum(m("host:"+h+"-us")) + " ×" + fmtCount(m("host:"+h+"-calls"))
		})
	}
	row("listener cost per listened call, ns (calibration)", func(_ string, m func(string) float64) string { return fmtNum(m("overhead-ns")) })
	return b.String()
}

// The markers around the generated attribution table in
// docs/performance.md.
const (
	attrBegin = "<!-- attribution table: written by make bench (tools/benchreport -docs); edits between the markers are overwritten -->"
	attrEnd   = "<!-- end of attribution table -->"
)

// writeAttribution replaces the text between the markers in the file at
// path with table and a line saying where it comes from.
func writeAttribution(path, table, cpu, date string) error {
	if table == "" {
		return nil // the run measured no attribution: leave the page alone
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i, j := bytes.Index(doc, []byte(attrBegin)), bytes.Index(doc, []byte(attrEnd))
	if i < 0 || j < i {
		return errors.New(path + ": no attribution markers")
	}
	var b bytes.Buffer
	b.Write(doc[:i+len(attrBegin)])
	fmt.Fprintf(&b, "\n\nFrom `make bench` on %s (%s), medians over the runs; per request in cpphost `envoy-1.33`.\n\n", date, orUnknown(cpu))
	b.WriteString(table)
	b.WriteString("\n")
	b.Write(doc[j:])
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// fmtCount renders a count per request: whole numbers without decimals.
func fmtCount(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprint(int64(v))
	}
	return fmtNum(v)
}
