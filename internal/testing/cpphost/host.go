package cpphost

import (
	"context"
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

	abiPkg "github.com/apiguard/apiguard/internal/testing/abi"
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
	// the benchmarks' profiling mode (internal/testing/wasmprof). Listeners make
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
// and the signatures are internal/testing/abi's; the WASI functions cpp-host #533
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
	v := abiPkg.Version(func(name string) bool { return c.ExportedFunctions()[name] != nil })
	if v == "" {
		return "", errors.New("module exports no proxy_abi_version_* marker (cpp-host: unknown ABI version)")
	}
	return v, nil
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
