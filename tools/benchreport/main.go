// Command benchreport summarises Go benchmark output (make bench's
// build/bench.txt) as the markdown in build/bench.md: the median of every
// metric over the runs of each benchmark, arranged in tables with the
// targets checked; with -json it also writes the headline figures as one
// JSON object (build/bench.json).
//
//	go run ./tools/benchreport -o build/bench.md -json build/bench.json build/bench.txt
//
// For significance across changes use benchstat on the .txt files; this is
// the one-page view.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "", "write the markdown here instead of stdout")
	jsonOut := flag.String("json", "", "also write the headline figures here as JSON")
	docs := flag.String("docs", "", "also write the attribution table into this page, between its markers (docs/performance.md)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: benchreport [-o bench.md] [-json bench.json] [-docs docs/performance.md] bench.txt")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	res, cpu, err := parse(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	md := report(res, cpu)
	if *docs != "" {
		if err := writeAttribution(*docs, attribution(res), cpu, time.Now().UTC().Format(time.DateOnly)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(headline(res), "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *out == "" {
		fmt.Print(md)
		return
	}
	if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// results maps a benchmark name (without the -GOMAXPROCS suffix) to its
// samples per unit.
type results struct {
	order []string
	by    map[string]map[string][]float64
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads benchmark lines: "BenchmarkX/sub-2  N  v unit  v unit ...".
func parse(r io.Reader) (results, string, error) {
	res := results{by: map[string]map[string][]float64{}}
	cpu := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if c, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = c
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || len(fields)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(strings.TrimPrefix(fields[0], "Benchmark"), "")
		m := res.by[name]
		if m == nil {
			m = map[string][]float64{}
			res.by[name] = m
			res.order = append(res.order, name)
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			m[fields[i+1]] = append(m[fields[i+1]], v)
		}
	}
	return res, cpu, sc.Err()
}

// get returns the median of unit for the benchmark name.
func (r results) get(name, unit string) (float64, bool) {
	vs := r.by[name][unit]
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

func (r results) runs(name string) int {
	n := 0
	for _, vs := range r.by[name] {
		n = max(n, len(vs))
	}
	return n
}

// fmtNum renders a value compactly: 3 significant digits, thousands plain.
func fmtNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func (r results) cell(name, unit string) string {
	v, ok := r.get(name, unit)
	if !ok {
		return "–"
	}
	return fmtNum(v)
}

func check(ok bool) string {
	if ok {
		return "✅ holds"
	}
	return "❌ missed"
}

// Headline holds the figures make bench writes to build/bench.json; zero
// where the run did not measure one.
type Headline struct {
	AllowedUs      float64 `json:"allowed_us"`
	FloorUs        float64 `json:"floor_us"`
	AllowedRatio   float64 `json:"allowed_ratio"`
	DeniedRatioMax float64 `json:"denied_ratio_max"`
	// Each denial's ratio to the floor and the clamped request's, the
	// floor interleaved with it in blocks of ten requests (medians).
	DeniedRatio401 float64 `json:"denied_ratio_401"`
	// The 401 with a new unknown key in every request, which pays the
	// key's SHA-256 and lookup each time (the 401 above repeats one key).
	DeniedRatio401NewKey float64 `json:"denied_ratio_401_new_key"`
	DeniedRatio403       float64 `json:"denied_ratio_403"`
	DeniedRatio400       float64 `json:"denied_ratio_400"`
	DeniedRatio429       float64 `json:"denied_ratio_429"`
	ClampRatio           float64 `json:"clamp_ratio"`
	AllocsAllowed        float64 `json:"allocs_allowed"`
	// allocsMeasured tells a measured 0 allocations from none measured.
	allocsMeasured bool
	// The allowed request's ratio to the floor with and without filter
	// state, interleaved (make bench's comparison).
	FilterStateRatio   float64 `json:"filter_state_ratio"`
	NoFilterStateRatio float64 `json:"no_filter_state_ratio"`
	// Steady traffic at 100k keys: the longest request and the p99.9 by
	// the CPU time of the VM's thread (the module's own work), and by the
	// wall clock (which adds the machine's other load).
	LongestMs100k     float64 `json:"longest_ms_100k"`
	P999Ms100k        float64 `json:"p999_ms_100k"`
	LongestWallMs100k float64 `json:"longest_wall_ms_100k"`
	P999WallMs100k    float64 `json:"p999_wall_ms_100k"`
	StartS10k         float64 `json:"start_s_10k"`
	StartS100k        float64 `json:"start_s_100k"`
	MemoryMiB100k     float64 `json:"memory_mib_100k"`
	ModuleBytes       float64 `json:"module_bytes"`
	DecideNativeNs    float64 `json:"decide_native_ns"`
	// Key store, 1M keys.
	KSLoadMs1M        float64 `json:"key_store_load_ms_1m"`
	KSMaxCbMs1M       float64 `json:"key_store_longest_callback_ms_1m"`
	KSPushMs1M        float64 `json:"key_store_push_ms_1m"`
	KSMemMiB1M        float64 `json:"key_store_memory_mib_1m"`
	KSReloadMemMiB1M  float64 `json:"key_store_reload_memory_mib_1m"`
	KSReloadMemRatio  float64 `json:"key_store_reload_memory_ratio_1m"`
	KSReloadMaxCbMs1M float64 `json:"key_store_reload_longest_callback_ms_1m"`
	// The identity token: an allowed request without a token and with a
	// reused EdDSA token, and one signature per algorithm (µs, cpphost).
	TokenNoneUs   float64 `json:"identity_token_none_us"`
	TokenReusedUs float64 `json:"identity_token_reused_us"`
	SignEdDSAUs   float64 `json:"identity_token_sign_eddsa_us"`
	SignES256Us   float64 `json:"identity_token_sign_es256_us"`
	// Attribution holds, per case of BenchmarkHostAttribution, its µs per
	// request by group (the benchmark's slugs, "host:<function>" for a
	// host call) and the plain build's and the floor's µs ("us/req",
	// "floor-us").
	Attribution map[string]map[string]float64 `json:"attribution,omitempty"`
}

func headline(r results) Headline {
	v := func(name, unit string) float64 { x, _ := r.get(name, unit); return x }
	h := Headline{
		AllowedUs:          v("HostRequest/plugin=apiguard/case=allowed", "us/req"),
		FloorUs:            v("HostRequest/plugin=floor/case=allowed", "us/req"),
		AllowedRatio:       v("HostRequest/plugin=apiguard/case=allowed", "x-floor"),
		AllocsAllowed:      v("HostRequest/plugin=apiguard/case=allowed", "allocs/req"),
		FilterStateRatio:   v("HostRequest/filter-state=allowed", "with-x-floor"),
		NoFilterStateRatio: v("HostRequest/filter-state=allowed", "without-x-floor"),
		LongestMs100k:      v("SteadyTraffic/keys=100000", "cpu-max-ms"),
		P999Ms100k:         v("SteadyTraffic/keys=100000", "cpu-p999-us") / 1000,
		LongestWallMs100k:  v("SteadyTraffic/keys=100000", "max-ms"),
		P999WallMs100k:     v("SteadyTraffic/keys=100000", "p999-us") / 1000,
		StartS10k:          v("PluginStart/plugin=apiguard/keys=10000", "start-ms") / 1000,
		StartS100k:         v("PluginStart/plugin=apiguard/keys=100000", "start-ms") / 1000,
		MemoryMiB100k:      v("PluginStart/plugin=apiguard/keys=100000", "mem-MiB"),
		ModuleBytes:        v("ModuleSize/plugin=apiguard", "wasm-bytes"),
		DecideNativeNs:     v("Decide/keys=100000/routes=1000", "ns/op"),
		TokenNoneUs:        v("HostIdentityToken/token=none", "us/req"),
		TokenReusedUs:      v("HostIdentityToken/token=EdDSA/reused", "us/req"),
		SignEdDSAUs:        v("HostIdentityToken/token=EdDSA/minted", "sign-us"),
		SignES256Us:        v("HostIdentityToken/token=ES256/minted", "sign-us"),
	}
	_, h.allocsMeasured = r.get("HostRequest/plugin=apiguard/case=allowed", "allocs/req")
	const ks = "KeyStoreLoad/keys=1000000"
	h.KSLoadMs1M, h.KSMaxCbMs1M, h.KSPushMs1M = v(ks, "load-ms"), v(ks, "max-cb-ms"), v(ks, "push-ms")
	h.KSMemMiB1M, h.KSReloadMemMiB1M, h.KSReloadMaxCbMs1M = v(ks, "mem-MiB"), v(ks, "mem-reload-MiB"), v(ks, "reload-max-cb-ms")
	if h.KSMemMiB1M > 0 {
		h.KSReloadMemRatio = h.KSReloadMemMiB1M / h.KSMemMiB1M
	}
	for _, c := range attributionCases {
		name := attributionBench + c
		if r.runs(name) == 0 {
			continue
		}
		if h.Attribution == nil {
			h.Attribution = map[string]map[string]float64{}
		}
		m := map[string]float64{}
		for unit := range r.by[name] {
			if g, ok := strings.CutSuffix(unit, "-us"); ok && !strings.HasSuffix(g, "-added") || unit == "us/req" {
				m[unit], _ = r.get(name, unit)
			}
		}
		h.Attribution[c] = m
	}
	ratio := func(c string) float64 { return v("HostRequest/plugin=apiguard/case="+c, "x-floor") }
	h.DeniedRatio401, h.DeniedRatio403, h.DeniedRatio400, h.DeniedRatio429 = ratio("401"), ratio("403"), ratio("400"), ratio("429")
	h.ClampRatio = ratio("clamp")
	h.DeniedRatio401NewKey = v(newKey401Bench, "x-floor")
	for _, c := range hostCases[1:] {
		if c != "clamp" {
			h.DeniedRatioMax = max(h.DeniedRatioMax, v("HostRequest/plugin=apiguard/case="+c, "x-floor"))
		}
	}
	h.DeniedRatioMax = max(h.DeniedRatioMax, h.DeniedRatio401NewKey)
	return h
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown CPU"
	}
	return s
}
