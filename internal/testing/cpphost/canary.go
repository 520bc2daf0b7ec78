package cpphost

import (
	"fmt"

	"github.com/tetratelabs/wazero"
)

// The configuration canary, as Envoy runs it for every plugin
// configuration on the main thread before any worker sees it:
//
//   - proxy_wasm::createWasm (src/wasm.cc, proxy-wasm-cpp-host beb8a4e)
//     calls WasmHandleBase::canary for the plugin, which clones the base
//     VM, runs _initialize, starts the root context (proxy_on_context_create,
//     proxy_on_vm_start) and calls proxy_on_configure; a refusal fails
//     createWasm, so Envoy rejects the configuration. Then kill() drops the
//     handle's VM without WasmBase::startShutdown: no proxy_on_done, no
//     proxy_on_delete. The result is cached by plugin key
//     (plugin_canary_cache_, keyed by makePluginKey: root_id, plugin
//     configuration, ...): one canary per configuration and base VM.
//   - The canary is a clone made by Envoy's clone factory, whose Wasm shares
//     the base VM's stats scope (Wasm::Wasm(base_wasm_handle, dispatcher):
//     scope_(getWasm(base_wasm_handle)->scope_), envoyproxy/envoy
//     source/extensions/common/wasm/wasm.cc at 0080bf5). What it adds to a
//     counter or gauge stays: gauges are ImportMode::Accumulate
//     (Context::defineMetric, source/extensions/common/wasm/context.cc at
//     b40935a) and nothing takes it back. Its shared data is the vm_id's,
//     like every VM's (cpp-host src/shared_data.cc).
//   - An HTTP call it makes in proxy_on_configure is started (Context::httpCall)
//     and cancelled when its root context is deleted with the VM
//     (Context::~Context cancels every outstanding request), before the main
//     thread's dispatcher runs again: no answer is delivered. The model
//     records it (CanceledHTTPCalls) and sends nothing; whether Envoy opens
//     a connection to the cluster meanwhile is not modelled.
//
// The model runs the canary the first time a host starts a plugin key
// (StartVM, StartWorker, PushConfig). Its logs are CanaryLogs.

// key is the model's makePluginKey: what makes two plugins the same
// configuration for the canary cache.
func (p Plugin) key() string {
	return p.VMID + "||" + p.RootID + "||" + string(p.Configuration) + "||" + p.Name
}

// canary runs the configuration canary for p unless one ran for its key,
// and returns what that canary logged and the error Envoy would reject the
// configuration with (nil when proxy_on_configure accepted it).
func (h *Host) canary(p Plugin) ([]Log, error) {
	h.mu.Lock()
	if h.canaries == nil {
		h.canaries = map[string]canaryResult{}
	}
	c, done := h.canaries[p.key()]
	h.mu.Unlock()
	if done {
		return c.logs, c.err
	}
	start := len(h.CanaryLogs())
	c.err = h.runCanary(p)
	c.logs = h.CanaryLogs()[start:]
	h.mu.Lock()
	h.canaries[p.key()] = c
	h.mu.Unlock()
	return c.logs, c.err
}

// canaryResult is a canary's verdict and logs.
type canaryResult struct {
	err  error
	logs []Log
}

func (h *Host) runCanary(p Plugin) error {
	h.vmSeq++
	name := fmt.Sprintf("canary%d", h.vmSeq)
	vm := newVM(h, p)
	vm.canary = true
	h.vms[name] = vm
	defer delete(h.vms, name)
	cfg := wazero.NewModuleConfig().WithName(name).WithStartFunctions()
	if h.opts.RealClock {
		cfg = cfg.WithSysWalltime().WithSysNanotime()
	}
	mod, err := h.rt.InstantiateModule(h.ctx, h.compiled, cfg)
	if err != nil {
		return err
	}
	vm.mod = mod
	defer func() {
		h.mu.Lock()
		h.canaryLogs = append(h.canaryLogs, vm.Logs...)
		h.mu.Unlock()
		mod.Close(h.ctx)
	}()
	r, err := vm.startPlugin()
	if err != nil {
		return fmt.Errorf("configuration canary: %w", err)
	}
	// kill(): the canary's root context goes with the VM, cancelling its
	// HTTP calls; nothing else runs.
	h.mu.Lock()
	for _, c := range vm.callouts {
		h.canceled = append(h.canceled, c.call)
	}
	h.mu.Unlock()
	vm.callouts = nil
	if r != 1 {
		return fmt.Errorf("the configuration canary's proxy_on_configure refused the configuration; logs: %s", vm.logText())
	}
	return nil
}

// Canaries returns how many configuration canaries the host ran.
func (h *Host) Canaries() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.canaries)
}

// CanaryLogs returns what the configuration canaries logged.
func (h *Host) CanaryLogs() []Log {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Log(nil), h.canaryLogs...)
}

// CanceledHTTPCalls returns the HTTP calls the configuration canaries made:
// Envoy cancels them with the canary, and the model never sent them.
func (h *Host) CanceledHTTPCalls() []HTTPCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]HTTPCall(nil), h.canceled...)
}
