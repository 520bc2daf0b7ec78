package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// reportWriter writes the report, section by section, noting the
// benchmarks each section used so that the last lists the others.
type reportWriter struct {
	b    *strings.Builder
	r    results
	used map[string]bool
}

// use notes that the benchmark n is reported, and returns n.
func (w *reportWriter) use(n string) string { w.used[n] = true; return n }

func report(r results, cpu string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# apiguard benchmarks\n\nFigures from this machine (%s, %d cores, %s, %s), medians over the runs in build/bench.txt; generated %s by tools/benchreport.\n\n",
		orUnknown(cpu), runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH, runtime.Version(), time.Now().UTC().Format(time.DateOnly))
	w := &reportWriter{b: &b, r: r, used: map[string]bool{}}
	w.decide()
	w.wasmRequest()
	w.hostRequest()
	w.targets()
	w.attribution()
	w.cursorSeal()
	w.identityToken()
	w.pluginStart()
	w.startPhases()
	w.steadyTraffic()
	w.keyStore()
	w.contention()
	w.moduleSize()
	w.others()
	return b.String()
}

// decide writes the native decision (policy.Decide) against its target.
func (w *reportWriter) decide() {
	r := w.r
	w.b.WriteString("## Native decision (`policy.Decide`)\n\n| keys | routes | ns/op | allocs/op | B/op |\n|---:|---:|---:|---:|---:|\n")
	for _, k := range []string{"10", "10000", "100000"} {
		for _, rt := range []string{"10", "1000"} {
			n := w.use("Decide/keys=" + k + "/routes=" + rt)
			if r.runs(n) == 0 {
				continue
			}
			fmt.Fprintf(w.b, "| %s | %s | %s | %s | %s |\n", k, rt, r.cell(n, "ns/op"), r.cell(n, "allocs/op"), r.cell(n, "B/op"))
		}
	}
	if ns, ok := r.get("Decide/keys=100000/routes=1000", "ns/op"); ok {
		al, _ := r.get("Decide/keys=100000/routes=1000", "allocs/op")
		fmt.Fprintf(w.b, "\nTarget ≤ 1 µs and ≤ 2 allocs at 100k keys / 1000 routes: %s (%s ns, %s allocs).\n", check(ns <= 1000 && al <= 2), fmtNum(ns), fmtNum(al))
	}
}

// wasmRequest writes a request through the compiled module in the SDK's
// emulator, against the passthrough.
func (w *reportWriter) wasmRequest() {
	r := w.r
	w.b.WriteString("\n## Per request, compiled .wasm in the SDK's wazero emulator\n\n| case | apiguard ns/op | passthrough ns/op | apiguard / passthrough |\n|---|---:|---:|---:|\n")
	var allowedRatio float64
	for _, c := range []string{"allowed", "401", "403", "429", "clamp"} {
		a, p := w.use("WasmRequest/plugin=apiguard/case="+c), w.use("WasmRequest/plugin=passthrough/case="+c)
		av, ok1 := r.get(a, "ns/op")
		pv, ok2 := r.get(p, "ns/op")
		if !ok1 || !ok2 {
			continue
		}
		ratio := av / pv
		if x, ok := r.get(a, "x-passthrough"); ok {
			ratio = x // measured against the passthrough of the same run
		}
		if c == "allowed" {
			allowedRatio = ratio
		}
		fmt.Fprintf(w.b, "| %s | %s | %s | %s× |\n", c, fmtNum(av), fmtNum(pv), fmtNum(ratio))
	}
	if allowedRatio > 0 {
		fmt.Fprintf(w.b, "\nTarget allowed request ≤ 1.5× passthrough: %s (%s×).\n", check(allowedRatio <= 1.5), fmtNum(allowedRatio))
	}
}

// hostRequest writes a request in cpphost against the floor plugin, the
// filter state's cost and the targets.
func (w *reportWriter) hostRequest() {
	r := w.r
	if r.runs(w.use("HostRequest/plugin=apiguard/case=allowed")) > 0 {
		w.b.WriteString("\n## Per request, compiled .wasm in cpphost (envoy-1.33), against the floor plugin\n\n| case | apiguard µs | floor µs | apiguard / floor | allocations |\n|---|---:|---:|---:|---:|\n")
		for _, c := range hostCases {
			a, f := w.use("HostRequest/plugin=apiguard/case="+c), w.use("HostRequest/plugin=floor/case="+c)
			fmt.Fprintf(w.b, "| %s | %s | %s | %s× | %s |\n", c, r.cell(a, "us/req"), r.cell(f, "us/req"), r.cell(a, "x-floor"), r.cell(a, "allocs/req"))
		}
		if a := w.use(newKey401Bench); r.runs(a) > 0 {
			fmt.Fprintf(w.b, "| 401, a new unknown key every request | %s | – | %s× | – |\n", r.cell(a, "us/req"), r.cell(a, "x-floor"))
		}
		h := headline(r)
		if fs := w.use("HostRequest/filter-state=allowed"); r.runs(fs) > 0 {
			// The floor, the filter built without filter state and the
			// filter, interleaved request by request: what the access-log
			// fields (filter/filterstate.go) cost under the same load.
			with, without := h.FilterStateRatio, h.NoFilterStateRatio
			fmt.Fprintf(w.b, "\nFilter state (apiguard's access-log record, wasm.apiguard), allowed request, interleaved with the floor: %s µs (%s× floor) with, %s µs (%s× floor) without (floor %s µs); the ratio to the floor %+.1f %% (target ≤ +5 %%: %s).\n",
				r.cell(fs, "with-us"), fmtNum(with), r.cell(fs, "without-us"), fmtNum(without), r.cell(fs, "floor-us"),
				100*(with/without-1), check(with <= 1.05*without))
		}
		fmt.Fprintf(w.b, "\nTargets: allowed ≤ 1.5× floor %s (%s×) and ≤ 40 µs %s (%s µs); every denial ≤ 1.5× floor %s (worst %s×); ≤ 4 allocations per allowed request %s (%s).\n",
			check(h.AllowedRatio <= 1.5), fmtNum(h.AllowedRatio), check(h.AllowedUs <= 40), fmtNum(h.AllowedUs),
			check(h.DeniedRatioMax <= 1.5), fmtNum(h.DeniedRatioMax), check(h.AllocsAllowed <= 4), fmtNum(h.AllocsAllowed))
	}
}

// targets writes the figures of issue #25 against its targets.
func (w *reportWriter) targets() { w.b.WriteString(targets(headline(w.r))) }

// attribution writes where a request's time goes inside the .wasm.
func (w *reportWriter) attribution() {
	if t := attribution(w.r); t != "" {
		for _, c := range hostCases {
			w.use(attributionBench + c)
		}
		w.b.WriteString("\n## Where a request's time goes inside the .wasm (BenchmarkHostAttribution)\n\n" + t)
	}
}

// startPhases writes the plugin start by phase.
func (w *reportWriter) startPhases() {
	if t := startPhases(w.r); t != "" {
		for _, k := range []string{"10000", "100000"} {
			w.use("PluginStartPhases/keys=" + k)
		}
		w.b.WriteString(t)
	}
}

// cursorSeal writes sealed cursors against plain ones.
func (w *reportWriter) cursorSeal() {
	r := w.r
	if r.runs(w.use("CursorSeal/op=response/cursors=sealed")) > 0 {
		w.b.WriteString("\n## Sealed cursors (cpphost, envoy-1.33): the same route with `cursor_seal` and without\n\n" +
			"`response` is a 2 KiB JSON page whose `next_cursor`, `paging.next` and `Link` cursor are sealed (body buffered, parsed, rewritten); `request` is the next page, whose sealed cursor is opened and replaced by the back end's.\n\n" +
			"| operation | plain µs | sealed µs | sealed / plain |\n|---|---:|---:|---:|\n")
		for _, op := range []string{"response", "request"} {
			s, p := w.use("CursorSeal/op="+op+"/cursors=sealed"), w.use("CursorSeal/op="+op+"/cursors=plain")
			fmt.Fprintf(w.b, "| %s | %s | %s | %s× |\n", op, r.cell(p, "us/req"), r.cell(s, "us/req"), r.cell(s, "x-plain"))
		}
		for _, op := range []string{"seal", "open"} {
			w.use("SealBody/op=" + op)
		}
		if r.runs("SealBody/op=seal") > 0 {
			fmt.Fprintf(w.b, "\nNatively (`policy`, no VM): sealing the page's two fields %s ns, %s allocations; opening a cursor %s ns, %s allocations.\n",
				r.cell("SealBody/op=seal", "ns/op"), r.cell("SealBody/op=seal", "allocs/op"), r.cell("SealBody/op=open", "ns/op"), r.cell("SealBody/op=open", "allocs/op"))
		}
	}
}

// identityToken writes the identity token's cost.
func (w *reportWriter) identityToken() {
	r := w.r
	if r.runs(w.use("HostIdentityToken/token=none")) > 0 {
		w.b.WriteString("\n## Identity token, allowed request in cpphost (envoy-1.33)\n\n`reused`: the worker's cached token, the common case (a token is minted again after 80 % of its lifetime); " +
			"`minted`: a signature on every request; `sign µs` is minted − reused, one signature.\n\n| token | µs/request | sign µs |\n|---|---:|---:|\n")
		fmt.Fprintf(w.b, "| none | %s | – |\n", r.cell("HostIdentityToken/token=none", "us/req"))
		for _, alg := range []string{"EdDSA", "ES256"} {
			for _, kind := range []string{"reused", "minted"} {
				n := w.use("HostIdentityToken/token=" + alg + "/" + kind)
				sign := "–"
				if kind == "minted" {
					sign = r.cell(n, "sign-us")
				}
				fmt.Fprintf(w.b, "| %s %s | %s | %s |\n", alg, kind, r.cell(n, "us/req"), sign)
			}
		}
	}
}

// pluginStart writes the plugin's start in a fresh VM.
func (w *reportWriter) pluginStart() {
	r := w.r
	w.b.WriteString("\n## Plugin start in a fresh VM (cpphost)\n\n`start ms` is proxy_on_configure: reading, compiling the configuration and creating every rate-limit bucket; `vm ms` adds instantiation and Go runtime start; memory is the VM's linear memory after start.\n\n| plugin | keys | config MB | start ms | vm ms | linear memory MiB |\n|---|---:|---:|---:|---:|---:|\n")
	for _, pk := range []string{"passthrough/keys=100000", "apiguard/keys=100", "apiguard/keys=10000", "apiguard/keys=100000"} {
		n := w.use("PluginStart/plugin=" + pk)
		if r.runs(n) == 0 {
			continue
		}
		plugin, keys, _ := strings.Cut(pk, "/keys=")
		mbs, _ := r.get(n, "MB/s")
		ns, _ := r.get(n, "ns/op")
		fmt.Fprintf(w.b, "| %s | %s | %s | %s | %s | %s |\n", plugin, keys, fmtNum(mbs*ns/1e9), r.cell(n, "start-ms"), r.cell(n, "vm-ms"), r.cell(n, "mem-MiB"))
	}
	if ms, ok := r.get("PluginStart/plugin=apiguard/keys=100000", "start-ms"); ok {
		ms10k, _ := r.get("PluginStart/plugin=apiguard/keys=10000", "start-ms")
		mem, _ := r.get("PluginStart/plugin=apiguard/keys=100000", "mem-MiB")
		fmt.Fprintf(w.b, "\nTargets: start ≤ 0.25 s at 10k keys %s (%s ms), ≤ 2 s at 100k keys %s (%s ms); linear memory ≤ 64 MiB at 100k keys %s (%s MiB).\n",
			check(ms10k <= 250), fmtNum(ms10k), check(ms <= 2000), fmtNum(ms), check(mem <= 64), fmtNum(mem))
	}
}

// steadyTraffic writes steady traffic: memory, collections, the longest request.
func (w *reportWriter) steadyTraffic() {
	r := w.r
	if r.runs(w.use("SteadyTraffic/keys=10000"))+r.runs(w.use("SteadyTraffic/keys=100000")) > 0 {
		w.b.WriteString("\n## Steady traffic (one VM, real clocks, cpphost)\n\nOne denial per request, as many requests as the benchmark ran; the longest requests are those in which the collector works, or ordinary ones the machine slowed when no collection ran. Each request is timed by the CPU time of the VM's thread (the module's own work, and what the machine's other load costs it in caches) and by the wall clock (which adds whatever else the machine ran). Each figure is the median over the runs: a run's longest request is one sample.\n\n| keys | memory after start MiB | memory after the run MiB | collections | p99.9 µs (CPU) | longest ms (CPU) | p99.9 µs (wall) | longest ms (wall) |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, keys := range []string{"10000", "100000"} {
			n := "SteadyTraffic/keys=" + keys
			if r.runs(n) == 0 {
				continue
			}
			fmt.Fprintf(w.b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", keys, r.cell(n, "mem-start-MiB"), r.cell(n, "mem-end-MiB"), r.cell(n, "gc-cycles"),
				r.cell(n, "cpu-p999-us"), r.cell(n, "cpu-max-ms"), r.cell(n, "p999-us"), r.cell(n, "max-ms"))
		}
		if h := headline(r); h.LongestMs100k > 0 {
			fmt.Fprintf(w.b, "\nTargets at 100k keys (CPU): longest request ≤ 1 ms %s (%s ms), p99.9 ≤ 0.15 ms %s (%s ms).\n",
				check(h.LongestMs100k <= 1), fmtNum(h.LongestMs100k), check(h.P999Ms100k <= 0.15), fmtNum(h.P999Ms100k))
		}
	}
}

// keyStore writes loading a key snapshot.
func (w *reportWriter) keyStore() {
	r := w.r
	if r.runs(w.use("KeyStoreLoad/keys=100000"))+r.runs(w.use("KeyStoreLoad/keys=1000000")) > 0 {
		w.b.WriteString("\n## Key store: loading a signed snapshot (cpphost, loopback HTTP server, real clocks)\n\n" +
			"`load ms` is the CPU time of every callback from the HTTP call's response until the keys serve (wasm runs on one thread); `verify` (signature and SHA-256) and `index` are parts of it as the VM timed them; `push` is a configuration push's plugin start, which binds the VM's verified snapshot; `reload` loads the next generation while the first serves.\n\n" +
			"| keys | bytes/key | load ms | verify ms | index ms | longest callback ms | memory MiB | push ms | memory after push MiB | reload ms | reload longest callback ms | memory after reload MiB | request µs | inline request µs |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, keys := range []string{"100000", "1000000"} {
			n := "KeyStoreLoad/keys=" + keys
			if r.runs(n) == 0 {
				continue
			}
			inline := "–"
			if _, ok := r.get(n, "inline-req-us"); ok {
				inline = r.cell(n, "inline-req-us")
			}
			fmt.Fprintf(w.b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", keys, r.cell(n, "bytes/key"), r.cell(n, "load-ms"),
				r.cell(n, "verify-ms"), r.cell(n, "index-ms"), r.cell(n, "max-cb-ms"), r.cell(n, "mem-MiB"), r.cell(n, "push-ms"), r.cell(n, "mem-push-MiB"), r.cell(n, "reload-ms"),
				r.cell(n, "reload-max-cb-ms"), r.cell(n, "mem-reload-MiB"), r.cell(n, "req-us"), inline)
		}
		if ms, ok := r.get("KeyStoreLoad/keys=1000000", "load-ms"); ok {
			cb, _ := r.get("KeyStoreLoad/keys=1000000", "max-cb-ms")
			mem1, _ := r.get("KeyStoreLoad/keys=1000000", "mem-MiB")
			mem, _ := r.get("KeyStoreLoad/keys=1000000", "mem-reload-MiB")
			rcb, _ := r.get("KeyStoreLoad/keys=1000000", "reload-max-cb-ms")
			fmt.Fprintf(w.b, "\nTargets at 1M keys: load ≤ 2 s CPU %s (%s ms); no callback > 20 ms %s (%s ms), in a reload %s (%s ms); linear memory ≤ 96 MiB after the load %s (%s MiB), and through a reload ≤ 1.5× the first load's %s (%s MiB, %s×).\n",
				check(ms <= 2000), fmtNum(ms), check(cb <= 20), fmtNum(cb), check(rcb <= 20), fmtNum(rcb), check(mem1 <= 96), fmtNum(mem1),
				check(mem1 > 0 && mem <= 1.5*mem1), fmtNum(mem), fmtNum(mem/max(mem1, 1)))
		}
		if ms, ok := r.get("KeyStoreLoad/keys=100000", "load-ms"); ok {
			fmt.Fprintf(w.b, "Target at 100k keys: load ≤ 0.3 s CPU %s (%s ms).\n", check(ms <= 300), fmtNum(ms))
		}
	}
}

// contention writes the rate limiter under contention.
func (w *reportWriter) contention() {
	r := w.r
	n := w.use("RateLimitContention/vms=2")
	if r.runs(n) > 0 {
		fmt.Fprintf(w.b, "\n## Rate limiter under contention (two VMs, one bucket, cpphost)\n\n| CAS retries / request | CAS exhausted / request | host calls / request | admitted | allowed | admitted / allowed |\n|---:|---:|---:|---:|---:|---:|\n| %s | %s | %s | %s | %s | %s |\n",
			r.cell(n, "cas-retries/req"), r.cell(n, "cas-exhausted/req"), r.cell(n, "host-calls/req"), r.cell(n, "admitted"), r.cell(n, "allowed"), r.cell(n, "admitted/allowed"))
		if v, ok := r.get(n, "admitted/allowed"); ok {
			fmt.Fprintf(w.b, "\nNo over-admission (admitted ≤ allowed): %s.\n", check(v <= 1))
		}
	}
}

// moduleSize writes the module's size.
func (w *reportWriter) moduleSize() {
	r := w.r
	a, p := w.use("ModuleSize/plugin=apiguard"), w.use("ModuleSize/plugin=passthrough")
	if av, ok := r.get(a, "wasm-bytes"); ok {
		pv, _ := r.get(p, "wasm-bytes")
		fmt.Fprintf(w.b, "\n## Module size (stripped)\n\n| module | bytes |\n|---|---:|\n| apiguard.wasm | %.0f |\n| passthrough.wasm | %.0f |\n\nTarget ≤ 4,700,000 bytes: %s.\n", av, pv, check(av <= 4_700_000))
	}
}

// others writes every benchmark no section used.
func (w *reportWriter) others() {
	r := w.r
	var rest []string
	for _, name := range r.order {
		if !w.used[name] {
			rest = append(rest, name)
		}
	}
	if len(rest) > 0 {
		w.b.WriteString("\n## Other benchmarks\n\n| benchmark | ns/op | B/op | allocs/op |\n|---|---:|---:|---:|\n")
		for _, name := range rest {
			fmt.Fprintf(w.b, "| %s | %s | %s | %s |\n", name, r.cell(name, "ns/op"), r.cell(name, "B/op"), r.cell(name, "allocs/op"))
		}
	}
}

// newKey401Bench is BenchmarkHostRequest's 401 with a new unknown key in
// every request (the 401 case repeats one).
const newKey401Bench = "HostRequest/plugin=apiguard/case=401-new-key"

// hostCases are the request shapes of BenchmarkHostRequest.
var hostCases = []string{"allowed", "401", "403", "429", "400", "clamp"}
