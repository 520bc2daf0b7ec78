package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/replay"
	"github.com/apiguard/apiguard/internal/wasmvm"
)

var replayCmd = &command{
	name: "replay",
	synopsis: "replay --config cfg.json --requests traffic.jsonl [--wasm build/apiguard.wasm] [--keys keys.txt]\n" +
		"                       [--key-snapshot keys.snap] [--baseline old.json] [-o table|json] [--start T]\n" +
		"                       [--progress auto|on|off] [--filter-logs]",
	summary: "run recorded requests through the compiled filter, or compare two configurations",
	help: `
Replay runs the compiled filter (the .wasm Envoy loads) offline, in wazero
behind the proxy-wasm SDK's host emulator, with the plugin configuration
--config, and feeds it the recorded requests of --requests ("-" for stdin) in
order. It prints a table of what the filter did with each request (route,
decision, status, reason) and a summary by reason. Rate-limit state carries
over from request to request, as in one Envoy.

The requests file has one JSON object per line:

  {"method": "GET", "path": "/v1/orders?limit=5",
   "headers": {"x-api-key": "{{key:billing-2026}}"},
   "client_ip": "192.0.2.7", "at": "+1.5s", "note": "free text"}

  method     default GET
  path       required, with the query
  headers    name to a string or a list of strings (repeated header)
  client_ip  default 192.0.2.1
  at         an RFC 3339 time, or a duration ("1.5s", "+250ms") or number of
             seconds after the start time (--start, else the first RFC 3339
             "at" in the file, else now); missing: the previous request's time
  note       shown in the report

Blank lines and lines starting with # are skipped. "{{key:ID}}" in a path or
header value is replaced by the key with that id in --keys (lines
"ID<TAB>KEY"), so recorded traffic never has to contain real keys; reports
show the placeholder, never the key.

With --baseline, both configurations run over the same requests, one after
the other, each in its own VM, and only the requests whose decision, status
or reason changed, or (for forwarded requests) the upstream :path or
identity headers, are printed; the table shows the upstream path when it
differs from the request's. The exit status is then 1 when any changed,
for CI gates in rollout pipelines.

A configuration with a key_store needs --key-snapshot: replay answers the
filter's fetches on the key store's cluster with that file (ranges
included) and waits until the filter has loaded it before the first
request; a snapshot the filter rejects stops the run with the filter's own
log lines. With --baseline, each configuration with a key_store gets the
snapshot, so an inline configuration can be the baseline of its key-store
successor.

Exit status: 0 done (no change against the baseline); 1 decisions or
upstream requests changed against the baseline; 2 usage error, unreadable or invalid input, a
configuration the filter refuses, or a filter whose response, decision log
and counters disagree.
`,
	run: runReplay,
}

// compileVM compiles the filter for one run; release frees the VM. Tests
// replace it to share compiled VMs between runs.
var compileVM = func(wasm []byte) (vm types.VMContext, release func(), err error) {
	v, err := wasmvm.EmulatorVM(wasm)
	if err != nil {
		return nil, nil, err
	}
	return v, func() { v.Close() }, nil
}

// replayFlags are replay's command-line settings.
type replayFlags struct {
	wasm, config, requests, keys, baseline string
	output, start, progress                string
	filterLogs                             bool
	keySnapshot                            string
}

func runReplay(c *command, e *env, args []string) int {
	var f replayFlags
	fs := f.flagSet(c)
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if msg := f.check(fs); msg != "" {
		return c.usageError(e, msg)
	}
	if f.wasm == "" {
		path, err := defaultWasm(".")
		if err != nil {
			return c.usageError(e, err.Error())
		}
		f.wasm = path
	}
	if f.filterLogs && f.progress == "auto" {
		f.progress = "off" // the bar would cut through the log lines
	}
	in, err := loadReplayInputs(e, f)
	if err != nil {
		return c.errorf(e, "%v", err)
	}
	if warn := staleWarning(f.wasm); warn != "" {
		fmt.Fprintf(e.stderr, "apiguard replay: warning: %s\n", warn)
	}

	// The emulator logs every filter log line through the standard logger.
	logOut := io.Discard
	if f.filterLogs {
		logOut = e.stderr
	}
	defer log.SetOutput(log.Writer())
	log.SetOutput(logOut)

	configs := []namedConfig{{f.config, in.config}}
	if f.baseline != "" {
		configs = []namedConfig{{f.baseline, in.baseline}, {f.config, in.config}}
	}
	vms, release, err := compileVMs(in.wasm, len(configs))
	if err != nil {
		return c.errorf(e, "%s: %v", f.wasm, err)
	}
	defer release()
	reports, status := runReplays(c, e, f, in, configs, vms)
	if reports == nil {
		return status
	}
	return reportReplays(c, e, f, configs, reports)
}

// flagSet defines replay's flags into f.
func (f *replayFlags) flagSet(c *command) *flag.FlagSet {
	fs := c.newFlagSet()
	fs.StringVar(&f.wasm, "wasm", "", "the compiled filter (default: "+wasmvm.DefaultPath+" of the repository the working directory is in)")
	fs.StringVar(&f.config, "config", "", "plugin configuration, JSON (required)")
	fs.StringVar(&f.requests, "requests", "", `recorded requests, JSON lines; "-" for stdin (required)`)
	fs.StringVar(&f.keys, "keys", "", `keys file for {{key:ID}} placeholders: "ID<TAB>KEY" lines`)
	fs.StringVar(&f.baseline, "baseline", "", "baseline configuration: report only requests whose decision or upstream request changed")
	fs.StringVar(&f.output, "output", "table", "output format: table or json")
	alias(fs, "o", "output")
	fs.StringVar(&f.start, "start", "", "RFC 3339 time that \"at\" offsets count from")
	fs.StringVar(&f.progress, "progress", "auto", "progress bar on stderr: auto (on a terminal, for 500 requests or more), on or off")
	fs.BoolVar(&f.filterLogs, "filter-logs", false, "copy the filter's log lines to stderr")
	fs.StringVar(&f.keySnapshot, "key-snapshot", "", "the key snapshot (apiguard keys build) a configuration's key_store serves: loaded by the filter before the first request")
	return fs
}

// check returns what is wrong with the flags, "" when nothing is.
func (f *replayFlags) check(fs *flag.FlagSet) string {
	switch {
	case fs.NArg() > 0:
		return "unexpected arguments: " + strings.Join(fs.Args(), " ")
	case f.config == "":
		return "--config is required"
	case f.requests == "":
		return "--requests is required"
	case checkOutput(f.output, "table", "json") != "":
		return checkOutput(f.output, "table", "json")
	case f.progress != "auto" && f.progress != "on" && f.progress != "off":
		return "--progress must be auto, on or off"
	}
	return ""
}

// runReplays replays the requests against each configuration, on the VM
// of the same index. It returns nil reports and the exit status when a
// run could not be done.
func runReplays(c *command, e *env, f replayFlags, in *replayInputs, configs []namedConfig, vms []types.VMContext) ([]*replay.Report, int) {
	reports := make([]*replay.Report, len(configs))
	for i, cfg := range configs {
		label := ""
		if len(configs) > 1 {
			label = cfg.name
		}
		bar := newProgress(e.stderr, f.progress, label)
		var err error
		reports[i], err = replay.Run(vms[i], in.requests, replay.Options{Config: cfg.data, Keys: in.keys, Progress: bar.update, KeySnapshot: in.keySnapshot})
		if errors.Is(err, replay.ErrNoKeySnapshot) {
			bar.done()
			return nil, c.usageError(e, cfg.name+" has a key_store: give the snapshot it serves with --key-snapshot FILE "+
				"(without it every request that needs a key is a 503 key_store_unavailable)")
		}
		bar.done()
		if err != nil {
			return nil, c.errorf(e, "%s: %v", cfg.name, err)
		}
	}
	return reports, exitOK
}

// reportReplays writes the report of one run, or the changes between the
// baseline's run and the configuration's, and lists the filter's
// inconsistencies. A change fails the command, an inconsistency too.
func reportReplays(c *command, e *env, f replayFlags, configs []namedConfig, reports []*replay.Report) int {
	status := exitOK
	var err error
	if f.baseline == "" {
		err = writeRun(e.stdout, f.output, f.config, reports[0])
	} else {
		var changes []replay.Change
		if changes, err = replay.Diff(reports[0].Results, reports[1].Results); err == nil {
			err = writeDiff(e.stdout, f.output, f.baseline, f.config, reports, changes)
			if len(changes) > 0 {
				status = exitFail
			}
		}
	}
	if err != nil {
		return c.errorf(e, "writing the report: %v", err)
	}
	for i, rep := range reports {
		for _, msg := range rep.Inconsistencies {
			fmt.Fprintf(e.stderr, "apiguard replay: %s: inconsistent filter output: %s\n", configs[i].name, msg)
			status = exitError
		}
	}
	return status
}

// namedConfig is a configuration and the file it came from.
type namedConfig struct {
	name string
	data []byte
}

// replayInputs are the files replay reads before running anything.
type replayInputs struct {
	wasm, config, baseline []byte
	keySnapshot            []byte
	keys                   replay.Keys
	requests               []replay.Request
}

// loadReplayInputs reads and parses every input, so that a mistake in any
// of them is reported before the module is compiled.
func loadReplayInputs(e *env, f replayFlags) (*replayInputs, error) {
	in := &replayInputs{}
	var err error
	if in.config, err = os.ReadFile(f.config); err != nil {
		return nil, err
	}
	if f.baseline != "" {
		if in.baseline, err = os.ReadFile(f.baseline); err != nil {
			return nil, err
		}
	}
	if in.keySnapshot, err = readKeySnapshot(f.keySnapshot); err != nil {
		return nil, fmt.Errorf("--key-snapshot: %w", err)
	}
	if in.keySnapshot != nil && !replay.HasKeyStore(in.config) && !replay.HasKeyStore(in.baseline) {
		return nil, fmt.Errorf("--key-snapshot: neither %s nor a baseline has a key_store: the snapshot would not be used", f.config)
	}
	if f.keys != "" {
		kf, err := os.Open(f.keys)
		if err != nil {
			return nil, err
		}
		in.keys, err = replay.LoadKeys(kf)
		kf.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.keys, err)
		}
	}
	opts := replay.ParseOptions{Keys: in.keys}
	if f.start != "" {
		if opts.Start, err = parseTimeFlag("start", f.start); err != nil {
			return nil, err
		}
	}
	var r io.Reader = e.stdin
	if f.requests != "-" {
		rf, err := os.Open(f.requests)
		if err != nil {
			return nil, err
		}
		defer rf.Close()
		r = rf
	}
	if in.requests, err = replay.ParseRequests(r, opts); err != nil {
		return nil, fmt.Errorf("%s: %w", f.requests, err)
	}
	if len(in.requests) == 0 {
		return nil, fmt.Errorf("%s: no requests", f.requests)
	}
	if in.wasm, err = os.ReadFile(f.wasm); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: run make build", err)
		}
		return nil, err
	}
	return in, nil
}

// compileVMs compiles n VMs of the module at once (compiling one takes over
// a second) and returns them with a function releasing them all.
func compileVMs(wasm []byte, n int) ([]types.VMContext, func(), error) {
	vms := make([]types.VMContext, n)
	releases := make([]func(), n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { vms[i], releases[i], errs[i] = compileVM(wasm) })
	}
	wg.Wait()
	releaseAll := func() {
		for _, r := range releases {
			if r != nil {
				r()
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		releaseAll()
		return nil, nil, err
	}
	return vms, releaseAll, nil
}

// staleWarning returns a warning when wasmPath is this repository's build
// output and is older than the filter's sources, or "".
func staleWarning(wasmPath string) string {
	root, err := wasmvm.RepoRoot(".")
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(wasmPath)
	if err != nil || abs != filepath.Join(root, wasmvm.DefaultPath) {
		return ""
	}
	newer, err := wasmvm.Stale(root, abs)
	if err != nil || newer == "" {
		return ""
	}
	rel, err := filepath.Rel(root, newer)
	if err != nil {
		rel = newer
	}
	return fmt.Sprintf("%s is older than %s: run make build", wasmPath, rel)
}
