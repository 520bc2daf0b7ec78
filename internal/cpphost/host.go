package cpphost

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	abiPkg "github.com/apiguard/apiguard/internal/abi"
)

// proxy-wasm status codes (WasmResult in cpp-host's include/proxy-wasm/word.h).
const (
	statusOK                  = 0
	statusNotFound            = 1
	statusBadArgument         = 2
	statusInvalidMemoryAccess = 6
	statusCasMismatch         = 8
	statusInternalFailure     = 10
	statusUnimplemented       = 12
)

// proxy-wasm enum values the host needs.
const (
	mapRequestHeaders  = 0
	mapResponseHeaders = 2
	bufferPluginConfig = 7
)

// Options configure a Host.
type Options struct {
	// Profile is the cpp-host the host behaves like; Envoy139 when nil.
	Profile *Profile
	// Output receives what the modules write to stdout and stderr (the Go
	// runtime's traces and fatal errors), besides the VM's log.
	Output io.Writer
	// Env is passed to the modules, as Envoy's vm_config
	// environment_variables are (e.g. GOGC, GODEBUG, the identity token's
	// signing key): cpp-host answers WASI environ_sizes_get and
	// environ_get from Wasm::envs(), which every clone of a VM shares
	// (src/exports.cc wasi_unstable_environ_get, src/wasm.cc, cpp-host
	// 52a0291), and the Go runtime reads them once, while _initialize runs.
	Env map[string]string
	// RealClock gives the modules the host's wall and monotonic clocks, as
	// Envoy does; by default wazero's deterministic fake clocks, which also
	// pace the Go runtime's timers and GC workers differently.
	RealClock bool
	// Cache, when set, is a compilation cache shared with other hosts, so
	// that a host for the same module starts without compiling it again.
	Cache wazero.CompilationCache
	// Clusters maps the Envoy cluster names proxy_http_call may name to
	// the "host:port" each stands for (a loopback server of the test).
	Clusters map[string]string
	// ReserveMemory backs each VM's linear memory with a reservation of its
	// maximum size, as V8 does, so that memory.grow does not copy the
	// memory (wazero's default does, which makes a callback that grows a
	// large memory far slower than in Envoy). Unix only.
	ReserveMemory bool
	// Listeners, when set, is notified of the calls of the functions it
	// chooses, guest and host (wazero's experimental function listeners):
	// the benchmarks' profiling mode (internal/wasmprof). Listeners make
	// calls slower; never set it where time is measured otherwise.
	Listeners experimental.FunctionListenerFactory
}

type entry struct {
	value []byte
	cas   uint32
}

// A Violation is a host call that cpp-host would have trapped: a function
// outside the allow list of a restricted phase.
type Violation struct {
	Function string // "module.name"
	Phase    string // PhaseInitialize or PhaseAllocate
	VM       string
	// During names the host call being served when the allocator ran, or
	// the callback, e.g. "proxy_get_header_map_pairs in proxy_on_request_headers".
	During string
}

func (v Violation) String() string {
	s := fmt.Sprintf("%s called %s while cpp-host restricts host calls (%s)", v.VM, v.Function, v.Phase)
	if v.During != "" {
		s += ", serving " + v.During
	}
	return s
}

// Host is one Envoy process: a compiled module and the state its VMs share
// (shared data by vm_id, stats).
type Host struct {
	ctx      context.Context
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	opts     Options
	profile  *Profile
	vms      map[string]*VM
	vmSeq    int

	// mu guards shared, nextCas, the metrics and violations, so that VMs
	// may run on different goroutines at once, as Envoy's workers do.
	mu      sync.Mutex
	shared  map[string]map[string]*entry // vm_id -> key -> entry
	nextCas uint32
	// BeforeSharedDataReply, when set, runs after the host looked up a
	// shared-data key for a VM and before the VM sees the answer: a test can
	// make another VM write the same key here to force a CAS mismatch.
	BeforeSharedDataReply func(vm *VM, key string)
	// PollOneoffCalls counts calls to poll_oneoff over all VMs.
	PollOneoffCalls atomic.Int64

	metricNames []string
	metrics     map[string]uint64
	violations  []Violation
	calls       []HTTPCall

	// canaries caches the configuration canary's verdict by plugin key;
	// canaryLogs and canceled are what the canaries logged and the HTTP
	// calls Envoy cancels with them (canary.go).
	canaries   map[string]canaryResult
	canaryLogs []Log
	canceled   []HTTPCall

	// hostCalls counts calls to env.proxy_* functions, over all VMs.
	hostCalls atomic.Uint64
	// born is when the host started: the origin of the real monotonic clock.
	born time.Time
}

// New compiles wasm (a proxy-wasm module) for a new host. It fails, as
// cpp-host fails to load the module, when the module imports a function the
// profile's host does not register, or lacks an export cpp-host needs.
func New(ctx context.Context, wasm []byte, opts Options) (*Host, error) {
	p := opts.Profile
	if p == nil {
		p = Envoy139
	}
	cfg := wazero.NewRuntimeConfig()
	if opts.Cache != nil {
		cfg = cfg.WithCompilationCache(opts.Cache)
	}
	if opts.ReserveMemory {
		ctx = experimental.WithMemoryAllocator(ctx, memoryAllocator())
	}
	if opts.Listeners != nil {
		ctx = experimental.WithFunctionListenerFactory(ctx, opts.Listeners)
	}
	h := &Host{
		ctx:     ctx,
		rt:      wazero.NewRuntimeWithConfig(ctx, cfg),
		opts:    opts,
		profile: p,
		vms:     map[string]*VM{},
		shared:  map[string]map[string]*entry{},
		metrics: map[string]uint64{},
		born:    time.Now(),
	}
	compiled, err := h.rt.CompileModule(ctx, wasm)
	if err != nil {
		h.rt.Close(ctx)
		return nil, err
	}
	h.compiled = compiled
	abi, err := abiVersion(compiled)
	if err != nil {
		h.rt.Close(ctx)
		return nil, err
	}
	for _, need := range []string{"_initialize", "proxy_on_memory_allocate"} {
		if compiled.ExportedFunctions()[need] == nil {
			h.rt.Close(ctx)
			return nil, fmt.Errorf("module does not export %s (cpp-host's getFunctions needs it)", need)
		}
	}
	builders := map[string]wazero.HostModuleBuilder{}
	var missing []string
	for _, f := range compiled.ImportedFunctions() {
		module, name, _ := f.Import()
		full := module + "." + name
		fn, problem := h.hostFunction(module, name, abi, abiPkg.Signature(f))
		if problem != "" {
			missing = append(missing, full+problem)
			continue
		}
		b := builders[module]
		if b == nil {
			b = h.rt.NewHostModuleBuilder(module)
			builders[module] = b
		}
		b.NewFunctionBuilder().WithGoModuleFunction(h.guard(full, fn), f.ParamTypes(), f.ResultTypes()).Export(name)
	}
	if len(missing) > 0 {
		h.rt.Close(ctx)
		return nil, fmt.Errorf("%s: the module imports functions this host does not register (V8 fails to link it): %s",
			p.Name, strings.Join(missing, ", "))
	}
	for _, b := range builders {
		if _, err := b.Instantiate(ctx); err != nil {
			h.rt.Close(ctx)
			return nil, err
		}
	}
	return h, nil
}

// hostFunction returns the model of module.name as the profile's cpp-host
// registers it for a module of ABI marker abi that imports it with
// signature sig, or why the import does not link: cpp-host does not
// register the function, or registers it with another signature. The list
// and the signatures are internal/abi's; the WASI functions cpp-host #533
// added (Envoy139) are the profile's, and abi has no signature for them.
func (h *Host) hostFunction(module, name, abi, sig string) (api.GoModuleFunc, string) {
	full := module + "." + name
	want, registered := abiPkg.Registered(full, abi)
	var fn hostFunc
	switch module {
	case "env":
		if !registered {
			return nil, ""
		}
		if fn = envFuncs[name]; fn == nil {
			fn = unmodelled(name)
		}
	case "wasi_snapshot_preview1", "wasi_unstable":
		if !h.profile.wasi[full] {
			return nil, ""
		}
		fn = wasiFuncs[name]
	}
	switch {
	case fn == nil:
		return nil, ""
	case registered && sig != want:
		return nil, sig + " (the host's is " + want + ")"
	}
	return h.bind(fn), ""
}

// abiVersion returns the module's ABI marker, as cpp-host's
// BytecodeUtil::getAbiVersion reads it from its exports.
func abiVersion(c wazero.CompiledModule) (string, error) {
	for _, v := range []string{"0_2_1", "0_2_0", "0_1_0"} {
		if c.ExportedFunctions()["proxy_abi_version_"+v] != nil {
			return v, nil
		}
	}
	return "", errors.New("module exports no proxy_abi_version_* marker (cpp-host: unknown ABI version)")
}

// guard wraps a host function with cpp-host's restricted-callback check
// (V8::registerHostFunctionImpl in src/v8/v8.cc): outside the allow list of
// the running phase the call traps ("restricted_callback") instead of
// running.
func (h *Host) guard(full string, fn api.GoModuleFunc) api.GoModuleFunc {
	env := strings.HasPrefix(full, "env.")
	return func(ctx context.Context, m api.Module, s []uint64) {
		vm := h.vm(m)
		if env {
			h.hostCalls.Add(1)
		}
		if vm != nil && vm.phase != "" && !h.profile.allowed(vm.phase, full) {
			v := Violation{Function: full, Phase: vm.phase, VM: m.Name(), During: vm.during}
			h.mu.Lock()
			h.violations = append(h.violations, v)
			h.mu.Unlock()
			panic(&trapError{v.String()})
		}
		fn(ctx, m, s)
	}
}

// trapError is a wasm trap raised by the host.
type trapError struct{ msg string }

func (e *trapError) Error() string { return "trap: " + e.msg }

// Close releases the runtime and every VM.
func (h *Host) Close() error { return h.rt.Close(h.ctx) }

// Profile returns the cpp-host profile the host models.
func (h *Host) Profile() *Profile { return h.profile }

// Counter returns the value of the counter metric name, summed over VMs.
func (h *Host) Counter(name string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.metrics[name]
}

// Metrics returns a copy of every metric, by name.
func (h *Host) Metrics() map[string]uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]uint64, len(h.metrics))
	for k, v := range h.metrics {
		out[k] = v
	}
	return out
}

// Violations returns the restricted calls the VMs made so far.
func (h *Host) Violations() []Violation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Violation(nil), h.violations...)
}

// HostCalls returns how many env.proxy_* host functions the VMs have called.
func (h *Host) HostCalls() uint64 { return h.hostCalls.Load() }

// ClearSharedData empties the shared-data store, as a fresh proxy has it.
func (h *Host) ClearSharedData() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.shared)
}

// rootContextID is the first plugin's root context in every VM; a
// configuration push (PushConfig) starts another.
const rootContextID = 1

// Log is one line the VM logged, through proxy_log or its stdout/stderr.
type Log struct {
	// Level is the proxy-wasm log level: 0 trace, 1 debug, 2 info, 3 warn,
	// 4 error, 5 critical (stdout is info, stderr error, as in cpp-host).
	Level int
	Msg   string
}

// Plugin describes one plugin of a VM, as Envoy's PluginBase holds it.
type Plugin struct {
	// Name is the plugin's name (the plugin_name property); in Istio
	// "<namespace>.<WasmPlugin name>".
	Name string
	// RootID is the root_id of the plugin configuration.
	RootID string
	// VMID is the vm_id: VMs with the same vm_id share one shared-data
	// namespace (cpp-host src/shared_data.cc).
	VMID string
	// Configuration is the plugin configuration.
	Configuration []byte
}

// VM is one instance of the module with its own plugin context, like the VM
// of one Envoy worker thread.
type VM struct {
	host   *Host
	mod    api.Module
	plugin Plugin
	// Properties answers proxy_get_property; the key is the path's segments
	// joined by ".", e.g. "source.address". Stream properties (request.*,
	// source.*, destination.*, connection.*, upstream.*, response.*) are
	// found only while a stream is current, as Envoy has no stream info in
	// the root context.
	Properties map[string][]byte
	Logs       []Log

	// ConfigureTime is how long proxy_on_configure (the plugin start)
	// took.
	ConfigureTime time.Duration
	// FailedOpen is set on a worker VM whose proxy_on_configure failed:
	// Envoy then skips the filter on that worker (the HTTP filter factory
	// gets no context) and its requests pass unfiltered.
	FailedOpen bool
	// Rejected is set, with FailedOpen, on a worker VM StartWorker returns
	// for a configuration the configuration canary refused: Envoy rejected
	// it on the main thread and no worker ran it; Logs are the canary's.
	Rejected bool
	// TickPeriod is the period the plugin set with
	// proxy_set_tick_period_milliseconds.
	TickPeriod time.Duration
	// err is the trap or failure that ended the VM; every later call fails.
	err error
	// canary is set on a configuration canary (canary.go): its HTTP calls
	// are never sent.
	canary bool

	// phase is the restricted phase running, "" outside them; during
	// names the host call or callback in progress, for violation reports.
	phase  string
	during string
	inCall string

	// exports caches the module's exported functions: looking one up
	// creates a function object with its own call stack, which would cost
	// more than a short callback itself.
	exports map[string]api.Function

	// fakeWall and fakeMono advance the deterministic clocks.
	fakeWall, fakeMono int64

	// HTTP callouts: the last token handed out, the calls not yet
	// delivered, and the response being delivered.
	nextToken uint32
	callouts  []*callout
	callResp  *calloutResponse

	nextID uint32
	cur    uint32
	// root is the root context of the plugin serving (the newest); roots
	// holds every root context not yet done.
	root     uint32
	roots    map[uint32]bool
	request  [][2]string
	response [][2]string
	local    *LocalResponse
	// body is the response body of ExchangeBody's stream (body.go).
	body  *bodyState
	state map[string][]byte // the stream's filter state (filterstate.go)
}

// LocalResponse is a response the plugin sent instead of forwarding.
type LocalResponse struct {
	Status  int
	Details string
	Headers [][2]string
	Body    []byte
}

// NewVM starts a VM with config as the main thread does: the module is
// instantiated, _initialize runs under startVm's restrictions, and a
// configuration the plugin refuses is an error (Envoy rejects it).
func (h *Host) NewVM(config []byte) (*VM, error) {
	return h.StartVM(Plugin{Name: "apiguard", RootID: "", VMID: "", Configuration: config})
}

// StartVM is NewVM for a plugin described in full.
func (h *Host) StartVM(p Plugin) (*VM, error) {
	vm, err := h.start(p, false)
	if err != nil {
		return nil, err
	}
	if vm.FailedOpen {
		return nil, fmt.Errorf("proxy_on_configure refused the configuration; logs: %s", vm.logText())
	}
	return vm, nil
}

// StartWorker starts a VM as a worker thread does once the main thread
// accepted the configuration: when proxy_on_configure fails here, Envoy
// logs it and the worker runs without the filter (FailedOpen).
func (h *Host) StartWorker(p Plugin) (*VM, error) { return h.start(p, true) }

// start runs the configuration canary for p (canary.go), then starts a VM
// with p. A configuration the canary refused is an error for the main
// thread (StartVM); for a worker (StartWorker) it is a VM that never ran
// (Rejected), so that a test sees the refusal as a failed start.
func (h *Host) start(p Plugin, worker bool) (*VM, error) {
	if logs, err := h.canary(p); err != nil {
		if !worker {
			return nil, err
		}
		// Envoy rejects the configuration on the main thread: no worker
		// runs it. The VM stands for that worker: it logged what the
		// canary logged and passes requests unfiltered.
		vm := newVM(h, p)
		vm.Rejected, vm.FailedOpen = true, true
		vm.Logs = logs
		return vm, nil
	}
	h.vmSeq++
	name := fmt.Sprintf("vm%d", h.vmSeq)
	vm := newVM(h, p)
	h.vms[name] = vm
	cfg := wazero.NewModuleConfig().WithName(name).WithStartFunctions()
	if h.opts.RealClock {
		cfg = cfg.WithSysWalltime().WithSysNanotime()
	}
	mod, err := h.rt.InstantiateModule(h.ctx, h.compiled, cfg)
	if err != nil {
		return nil, err
	}
	vm.mod = mod
	r, err := vm.startPlugin()
	if err != nil {
		return nil, err
	}
	vm.FailedOpen = r != 1
	return vm, nil
}

// newVM returns the state of a VM of h serving p, before its module is
// instantiated.
func newVM(h *Host, p Plugin) *VM {
	vm := &VM{host: h, plugin: p, Properties: map[string][]byte{}, nextID: rootContextID + 1,
		root: rootContextID, roots: map[uint32]bool{rootContextID: true}}
	vm.Properties["plugin_name"] = []byte(p.Name)
	vm.Properties["plugin_root_id"] = []byte(p.RootID)
	vm.Properties["plugin_vm_id"] = []byte(p.VMID)
	return vm
}

// startPlugin runs _initialize under startVm's restrictions, creates the
// root context, starts the VM and configures the plugin, and returns what
// proxy_on_configure returned.
func (vm *VM) startPlugin() (uint64, error) {
	vm.phase = PhaseInitialize
	_, err := vm.call("_initialize")
	vm.phase = ""
	if err != nil {
		return 0, err
	}
	vm.cur = rootContextID
	if _, err := vm.call("proxy_on_context_create", rootContextID, 0); err != nil {
		return 0, err
	}
	if r, err := vm.call("proxy_on_vm_start", rootContextID, 0); err != nil || r != 1 {
		return 0, fmt.Errorf("proxy_on_vm_start: %d, %v", r, err)
	}
	begin := time.Now()
	r, err := vm.call("proxy_on_configure", rootContextID, uint64(len(vm.plugin.Configuration)))
	vm.ConfigureTime = time.Since(begin)
	return r, err
}

func (vm *VM) logText() string {
	var b strings.Builder
	for i, l := range vm.Logs {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(l.Msg)
	}
	return b.String()
}

// LogsAt returns the messages the VM logged at level.
func (vm *VM) LogsAt(level int) []string {
	var out []string
	for _, l := range vm.Logs {
		if l.Level == level {
			out = append(out, l.Msg)
		}
	}
	return out
}

// Counter returns the value of the counter metric name, summed over the
// host's VMs (Envoy's stats are per process).
func (vm *VM) Counter(name string) uint64 { return vm.host.Counter(name) }

// Err returns the trap or failure that ended the VM, or nil.
func (vm *VM) Err() error { return vm.err }

// MemorySize returns the size of the VM's linear memory in bytes. Go's wasm
// runtime grows it and never gives it back, so it is the VM's peak.
func (vm *VM) MemorySize() uint32 { return vm.mod.Memory().Size() }

// Close releases the VM's instance. Call it only while no other goroutine
// is running a VM of the host.
func (vm *VM) Close() error {
	if vm.mod == nil {
		return nil // Rejected: never instantiated
	}
	delete(vm.host.vms, vm.mod.Name())
	return vm.mod.Close(vm.host.ctx)
}

// Result is what one request produced.
type Result struct {
	// Upstream holds the request headers as forwarded, when not denied.
	Upstream [][2]string
	// Local is set when the plugin answered the request itself.
	Local *LocalResponse
	// Response holds the response headers after the plugin's changes: the
	// upstream's, or the local reply's as Envoy encodes it
	// (localReplyHeaders), which also go through proxy_on_response_headers.
	Response [][2]string
	// Skipped is set when the worker runs without the filter (FailedOpen):
	// the request went upstream as the client sent it.
	Skipped bool
	// Action is what proxy_on_request_headers returned (0 continue,
	// 1 pause).
	Action uint32
	// FilterState is what the plugin set with proxy_set_property, as the
	// access log reads it at the end of the stream: keyed by Envoy's
	// filter-state name ("wasm." + path), nil when nothing was set.
	FilterState map[string][]byte
}

// Request runs one HTTP request without a body through the VM: request
// headers (end of stream), a 200 response from the "upstream" when
// forwarded, and the end of the stream.
func (vm *VM) Request(headers [][2]string) (Result, error) {
	return vm.Exchange(headers, [][2]string{{":status", "200"}})
}

// Exchange is Request with the upstream's response headers.
func (vm *VM) Exchange(headers, response [][2]string) (Result, error) {
	if vm.err != nil {
		return Result{}, vm.err
	}
	if vm.FailedOpen {
		return Result{Upstream: headers, Response: response, Skipped: true}, nil
	}
	id := vm.nextID
	vm.nextID++
	vm.cur = id
	defer func() { vm.cur = vm.root }()
	vm.request = lowerKeys(headers)
	vm.response = lowerKeys(response)
	vm.local, vm.state = nil, nil
	if _, err := vm.call("proxy_on_context_create", uint64(id), uint64(vm.root)); err != nil {
		return Result{}, err
	}
	action, err := vm.call("proxy_on_request_headers", uint64(id), uint64(len(vm.request)), 1)
	if err != nil {
		return Result{}, err
	}
	res := Result{Local: vm.local, Action: uint32(action)}
	endOfStream := uint64(1)
	if vm.local == nil {
		res.Upstream = vm.request
	} else {
		// Envoy sends the local reply through the filter chain, this
		// filter included (localReplyHeaders).
		vm.response = localReplyHeaders(vm.local)
		if len(vm.local.Body) > 0 {
			endOfStream = 0 // the body follows; the model has no body callbacks
		}
	}
	if _, err := vm.call("proxy_on_response_headers", uint64(id), uint64(len(vm.response)), endOfStream); err != nil {
		return Result{}, err
	}
	res.Response = vm.response
	for _, f := range []string{"proxy_on_done", "proxy_on_log", "proxy_on_delete"} {
		if _, err := vm.call(f, uint64(id)); err != nil {
			return Result{}, err
		}
	}
	res.FilterState = vm.state
	return res, nil
}

// Call runs the module's export name with args outside any stream, as a
// host integration would, and returns its result.
func (vm *VM) Call(name string, args ...uint64) (uint64, error) { return vm.call(name, args...) }

// Done tells the plugin it is being removed (proxy_on_done on the root
// context), as Envoy does when a configuration update drops it.
func (vm *VM) Done() error {
	vm.cur = vm.root
	_, err := vm.call("proxy_on_done", uint64(vm.root))
	return err
}

// Gauge returns the value of the gauge metric name (summed over the host's
// VMs, as Envoy accumulates a gauge of every worker).
func (vm *VM) Gauge(name string) int64 { return int64(vm.host.Counter(name)) }

// Tick calls the plugin's proxy_on_tick, as Envoy's timer does every
// TickPeriod.
func (vm *VM) Tick() error {
	if vm.err != nil {
		return vm.err
	}
	vm.cur = vm.root
	_, err := vm.call("proxy_on_tick", uint64(vm.root))
	return err
}

// localReplyHeaders returns the response headers of a local reply as Envoy
// encodes it: the plugin's proxy_send_local_response is carried out after
// the VM call returns (Context::sendLocalResponse defers
// decoder_callbacks_->sendLocalReply, envoyproxy/envoy
// source/extensions/common/wasm/context.cc at b40935a), and the reply goes
// through the encoder filters, this one included: Context::encodeHeaders
// skips proxy_on_response_headers only for the 503 it sends itself when the
// VM failed (failure_local_reply_sent_). The headers are :status, the
// plugin's headers added one by one (modify_headers, addCopy), then for a
// body content-length and, when none was given, content-type text/plain;
// without a body neither (Utility::prepareLocalReply,
// source/common/http/utility.cc at 0075dc3). gRPC requests, whose local
// replies Envoy turns into trailers-only responses, are not modelled.
func localReplyHeaders(l *LocalResponse) [][2]string {
	hs := [][2]string{{":status", fmt.Sprint(l.Status)}}
	hs = append(hs, lowerKeys(l.Headers)...)
	if len(l.Body) == 0 {
		return remove(remove(hs, "content-length"), "content-type")
	}
	hs = append(remove(hs, "content-length"), [2]string{"content-length", fmt.Sprint(len(l.Body))})
	for _, h := range hs {
		if h[0] == "content-type" {
			return hs
		}
	}
	return append(hs, [2]string{"content-type", "text/plain"})
}

func lowerKeys(hs [][2]string) [][2]string {
	out := make([][2]string, len(hs))
	for i, h := range hs {
		out[i] = [2]string{strings.ToLower(h[0]), h[1]}
	}
	return out
}

// call runs an export. A trap, from the module or a restricted call, ends
// the VM as it ends a cpp-host VM (FailState::RuntimeError).
func (vm *VM) call(name string, args ...uint64) (uint64, error) {
	if vm.err != nil {
		return 0, vm.err
	}
	if vm.mod == nil {
		return 0, errors.New("the configuration canary refused the configuration: no worker runs it")
	}
	f := vm.exports[name]
	if f == nil {
		if f = vm.mod.ExportedFunction(name); f == nil {
			return 0, fmt.Errorf("module does not export %s", name)
		}
		if vm.exports == nil {
			vm.exports = map[string]api.Function{}
		}
		vm.exports[name] = f
	}
	outer := vm.inCall
	if vm.phase != PhaseAllocate {
		vm.inCall = name
	}
	r, err := f.Call(vm.host.ctx, args...)
	vm.inCall = outer
	if err != nil {
		vm.err = fmt.Errorf("%s (%s): VM failed: %w", name, vm.host.profile.Name, err)
		return 0, vm.err
	}
	if len(r) == 0 {
		return 0, nil
	}
	return r[0], nil
}

func (h *Host) vm(m api.Module) *VM { return h.vms[m.Name()] }

func read(m api.Module, ptr, size uint64) []byte {
	b, ok := m.Memory().Read(uint32(ptr), uint32(size))
	if !ok {
		panic(&trapError{fmt.Sprintf("guest memory out of range: %d+%d", ptr, size)})
	}
	return append([]byte(nil), b...)
}

// give returns data to the module as cpp-host's copyToPointerSize does: it
// obtains memory from the module's allocator under allocMemory's
// restrictions, copies data there and writes address and size to the
// out-parameters. A zero address from the allocator is
// InvalidMemoryAccess; an empty value is written as address 0, size 0
// without calling the allocator.
func give(vm *VM, hostCall string, data []byte, retPtr, retSize uint64) uint64 {
	m := vm.mod
	var addr uint64
	if len(data) > 0 {
		vm.phase, vm.during = PhaseAllocate, hostCall+" in "+vm.inCall
		r, err := vm.call("proxy_on_memory_allocate", uint64(len(data)))
		vm.phase, vm.during = "", ""
		if err != nil {
			panic(&trapError{err.Error()})
		}
		if r == 0 {
			return statusInvalidMemoryAccess
		}
		addr = r
		if !m.Memory().Write(uint32(addr), data) {
			return statusInvalidMemoryAccess
		}
	}
	if !m.Memory().WriteUint32Le(uint32(retPtr), uint32(addr)) ||
		!m.Memory().WriteUint32Le(uint32(retSize), uint32(len(data))) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

// encodePairs serializes a header map the proxy-wasm way: count, the
// key/value sizes, then each key and value followed by a NUL.
func encodePairs(pairs [][2]string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(pairs)))
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(append(b, p[0]...), 0)
		b = append(append(b, p[1]...), 0)
	}
	return b
}

// decodePairs reads a serialized header map; ok is false when it is
// malformed.
func decodePairs(b []byte) (pairs [][2]string, ok bool) {
	if len(b) == 0 {
		return nil, true
	}
	if len(b) < 4 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 0 || 4+8*n > len(b) {
		return nil, false
	}
	sizes := b[4:]
	data := b[4+8*n:]
	pairs = make([][2]string, n)
	for i := range n {
		k := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		v := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if k+1+v+1 > len(data) {
			return nil, false
		}
		pairs[i] = [2]string{string(data[:k]), string(data[k+1 : k+1+v])}
		data = data[k+1+v+1:]
	}
	return pairs, true
}

func (vm *VM) headerMap(mapType uint32) *[][2]string {
	switch mapType {
	case mapHTTPCallResponseHeaders, mapHTTPCallResponseTrailers:
		if vm.callResp == nil {
			return nil
		}
		if mapType == mapHTTPCallResponseHeaders {
			return &vm.callResp.headers
		}
		return &vm.callResp.trailers
	}
	if vm.roots[vm.cur] {
		return nil // no stream: Envoy's getMap answers null
	}
	switch mapType {
	case mapRequestHeaders:
		return &vm.request
	case mapResponseHeaders:
		return &vm.response
	}
	return nil
}

// streamProperty reports whether path names stream info, which Envoy has
// only while a stream is current.
func streamProperty(path string) bool {
	top, _, _ := strings.Cut(path, ".")
	switch top {
	case "request", "response", "source", "destination", "connection", "upstream", "connection_id":
		return true
	}
	return false
}
