package cpphost

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

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
