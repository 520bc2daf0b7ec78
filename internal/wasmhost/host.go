// Package wasmhost is a small proxy-wasm host on wazero for what the SDK's
// emulator cannot do: run several VMs of one module over one shared-data
// store (as Envoy runs one VM per worker thread), inject a competing write in
// the middle of a VM's compare-and-swap, and stand in for a host whose WASI
// poll_oneoff is not implemented (proxy-wasm-cpp-host before PR #533).
//
// It implements the host calls apiguard's filter makes; the others answer
// "unimplemented". It is a test and benchmark tool, not a proxy.
package wasmhost

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
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// proxy-wasm status codes.
const (
	statusOK            = 0
	statusNotFound      = 1
	statusBadArgument   = 2
	statusCasMismatch   = 8
	statusUnimplemented = 12
)

// proxy-wasm enum values the host needs.
const (
	mapRequestHeaders  = 0
	mapResponseHeaders = 2
	bufferPluginConfig = 7
)

// Options configure a Host.
type Options struct {
	// PollOneoffErrno, when non-zero, replaces WASI poll_oneoff with a stub
	// that returns this errno, as proxy-wasm-cpp-host did from PR #427 until
	// PR #533 (52, ENOSYS).
	PollOneoffErrno uint32
	// Output receives the modules' stdout and stderr (the Go runtime's
	// fatal errors); nil discards them.
	Output io.Writer
	// Env is passed to the modules (e.g. GOGC, GODEBUG).
	Env map[string]string
	// RealClock gives the modules the host's wall and monotonic clocks, as
	// Envoy does; by default wazero's deterministic fake clocks, which also
	// pace the Go runtime's timers and GC workers differently.
	RealClock bool
}

type entry struct {
	value []byte
	cas   uint32
}

// Host is one proxy process: a compiled module and the state its VMs share.
type Host struct {
	ctx      context.Context
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	opts     Options
	vms      map[string]*VM
	vmSeq    int

	// mu guards shared, nextCas and the metrics, so that VMs may run on
	// different goroutines at once, as Envoy's workers do.
	mu      sync.Mutex
	shared  map[string]*entry
	nextCas uint32
	// BeforeSharedDataReply, when set, runs after the host looked up a
	// shared-data key for a VM and before the VM sees the answer: a test can
	// make another VM write the same key here to force a CAS mismatch.
	BeforeSharedDataReply func(vm *VM, key string)
	// PollOneoffCalls counts calls to the PollOneoffErrno stub.
	PollOneoffCalls int

	metricNames []string
	metrics     map[string]uint64

	// hostCalls counts calls to env.proxy_* functions, over all VMs.
	hostCalls atomic.Uint64
}

// New compiles wasm (a proxy-wasm module) for a new host.
func New(ctx context.Context, wasm []byte, opts Options) (*Host, error) {
	h := &Host{
		ctx:     ctx,
		rt:      wazero.NewRuntime(ctx),
		opts:    opts,
		vms:     map[string]*VM{},
		shared:  map[string]*entry{},
		metrics: map[string]uint64{},
	}
	wasi := h.rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(wasi)
	if errno := opts.PollOneoffErrno; errno != 0 {
		i32 := api.ValueTypeI32
		wasi.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) {
			h.PollOneoffCalls++
			s[0] = uint64(errno)
		}), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).Export("poll_oneoff")
	}
	if _, err := wasi.Instantiate(ctx); err != nil {
		return nil, err
	}
	compiled, err := h.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, err
	}
	h.compiled = compiled
	env := h.rt.NewHostModuleBuilder("env")
	for _, f := range compiled.ImportedFunctions() {
		module, name, _ := f.Import()
		if module != "env" {
			continue
		}
		fn := h.hostFunc(name)
		if fn == nil {
			fn = func(_ context.Context, _ api.Module, s []uint64) { s[0] = statusUnimplemented }
		}
		inner := fn
		fn = func(ctx context.Context, m api.Module, s []uint64) {
			h.hostCalls.Add(1)
			inner(ctx, m, s)
		}
		env.NewFunctionBuilder().WithGoModuleFunction(fn, f.ParamTypes(), f.ResultTypes()).Export(name)
	}
	if _, err := env.Instantiate(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

// Close releases the runtime and every VM.
func (h *Host) Close() error { return h.rt.Close(h.ctx) }

// Counter returns the value of the counter metric name, summed over VMs.
func (h *Host) Counter(name string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.metrics[name]
}

// HostCalls returns how many env.proxy_* host functions the VMs have called.
func (h *Host) HostCalls() uint64 { return h.hostCalls.Load() }

// ClearSharedData empties the shared-data store, as a fresh proxy has it.
func (h *Host) ClearSharedData() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.shared)
}

// rootContextID is the plugin's root context in every VM.
const rootContextID = 1

// VM is one instance of the module with its own plugin context, like the VM
// of one Envoy worker thread.
type VM struct {
	host   *Host
	mod    api.Module
	config []byte
	// Properties answers proxy_get_property; the key is the path's segments
	// joined by ".", e.g. "source.address".
	Properties map[string][]byte
	Logs       []string

	// ConfigureTime is how long proxy_on_configure (the plugin start)
	// took in NewVM.
	ConfigureTime time.Duration

	// exports caches the module's exported functions: looking one up
	// creates a function object with its own call stack, which would cost
	// more than a short callback itself.
	exports map[string]api.Function

	nextID   uint32
	cur      uint32
	request  [][2]string
	response [][2]string
	local    *LocalResponse
}

// LocalResponse is a response the plugin sent instead of forwarding.
type LocalResponse struct {
	Status  int
	Headers [][2]string
	Body    []byte
}

// NewVM instantiates the module, runs _initialize and starts the plugin with
// config, as Envoy does for each worker.
func (h *Host) NewVM(config []byte) (*VM, error) {
	h.vmSeq++
	name := fmt.Sprintf("vm%d", h.vmSeq)
	vm := &VM{host: h, config: config, Properties: map[string][]byte{}, nextID: rootContextID + 1}
	h.vms[name] = vm
	cfg := wazero.NewModuleConfig().WithName(name).WithStartFunctions("_initialize")
	if h.opts.RealClock {
		cfg = cfg.WithSysWalltime().WithSysNanotime()
	}
	if h.opts.Output != nil {
		cfg = cfg.WithStdout(h.opts.Output).WithStderr(h.opts.Output)
	}
	for k, v := range h.opts.Env {
		cfg = cfg.WithEnv(k, v)
	}
	mod, err := h.rt.InstantiateModule(h.ctx, h.compiled, cfg)
	if err != nil {
		return nil, err
	}
	vm.mod = mod
	vm.cur = rootContextID
	if _, err := vm.call("proxy_on_context_create", rootContextID, 0); err != nil {
		return nil, err
	}
	if r, err := vm.call("proxy_on_vm_start", rootContextID, 0); err != nil || r != 1 {
		return nil, fmt.Errorf("proxy_on_vm_start: %d, %v", r, err)
	}
	begin := time.Now()
	r, err := vm.call("proxy_on_configure", rootContextID, uint64(len(config)))
	vm.ConfigureTime = time.Since(begin)
	if err != nil || r != 1 {
		return nil, fmt.Errorf("proxy_on_configure failed (%v); logs: %s", err, strings.Join(vm.Logs, " | "))
	}
	return vm, nil
}

// MemorySize returns the size of the VM's linear memory in bytes. Go's wasm
// runtime grows it and never gives it back, so it is the VM's peak.
func (vm *VM) MemorySize() uint32 { return vm.mod.Memory().Size() }

// Close releases the VM's instance. Call it only while no other goroutine
// is running a VM of the host.
func (vm *VM) Close() error {
	delete(vm.host.vms, vm.mod.Name())
	return vm.mod.Close(vm.host.ctx)
}

// Result is what one request produced.
type Result struct {
	// Upstream holds the request headers as forwarded, when not denied.
	Upstream [][2]string
	// Local is set when the plugin answered the request itself.
	Local *LocalResponse
	// Response holds the response headers after the plugin's changes.
	Response [][2]string
}

// Request runs one HTTP request through the VM: request headers, a 200
// response from the "upstream" when forwarded, and the end of the stream.
func (vm *VM) Request(headers [][2]string) (Result, error) {
	id := vm.nextID
	vm.nextID++
	vm.cur = id
	vm.request = append([][2]string(nil), headers...)
	vm.response = [][2]string{{":status", "200"}}
	vm.local = nil
	if _, err := vm.call("proxy_on_context_create", uint64(id), rootContextID); err != nil {
		return Result{}, err
	}
	if _, err := vm.call("proxy_on_request_headers", uint64(id), uint64(len(headers)), 0); err != nil {
		return Result{}, err
	}
	res := Result{Local: vm.local}
	if vm.local == nil {
		res.Upstream = vm.request
		if _, err := vm.call("proxy_on_response_headers", uint64(id), uint64(len(vm.response)), 0); err != nil {
			return Result{}, err
		}
		res.Response = vm.response
	}
	for _, f := range []string{"proxy_on_done", "proxy_on_log", "proxy_on_delete"} {
		if _, err := vm.call(f, uint64(id)); err != nil {
			return Result{}, err
		}
	}
	vm.cur = rootContextID
	return res, nil
}

func (vm *VM) call(name string, args ...uint64) (uint64, error) {
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
	r, err := f.Call(vm.host.ctx, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
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
		panic(fmt.Sprintf("guest memory out of range: %d+%d", ptr, size))
	}
	return append([]byte(nil), b...)
}

// give copies data into guest memory obtained from proxy_on_memory_allocate
// and writes its address and size to the out-parameters.
func give(vm *VM, data []byte, retPtr, retSize uint64) error {
	m := vm.mod
	var addr uint64
	if len(data) > 0 {
		r, err := vm.call("proxy_on_memory_allocate", uint64(len(data)))
		if err != nil {
			return err
		}
		addr = r
		if !m.Memory().Write(uint32(addr), data) {
			return errors.New("allocation out of range")
		}
	}
	m.Memory().WriteUint32Le(uint32(retPtr), uint32(addr))
	m.Memory().WriteUint32Le(uint32(retSize), uint32(len(data)))
	return nil
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

func decodePairs(b []byte) [][2]string {
	if len(b) < 4 {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(b))
	sizes := b[4:]
	data := b[4+8*n:]
	pairs := make([][2]string, n)
	for i := range n {
		k := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		v := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		pairs[i] = [2]string{string(data[:k]), string(data[k+1 : k+1+v])}
		data = data[k+1+v+1:]
	}
	return pairs
}

func (vm *VM) headerMap(mapType uint32) *[][2]string {
	switch mapType {
	case mapRequestHeaders:
		return &vm.request
	case mapResponseHeaders:
		return &vm.response
	}
	return nil
}
