package cpphost

import "fmt"

// PushConfig replaces the VM's plugin configuration as an Envoy
// configuration update that changes only the plugin configuration does:
// the VM is kept (its vm_id, code and VM configuration are unchanged) and
// the new plugin gets a root context of its own. cpp-host keys root
// contexts by plugin key, made from the root_id and the plugin
// configuration (include/proxy-wasm/context.h PluginBase, makePluginKey),
// so WasmBase::start (src/wasm.cc) creates a new root context and calls
// proxy_on_context_create and proxy_on_configure on it; the old plugin's
// handle, once released, calls WasmBase::startShutdown(key), which runs
// proxy_on_done and proxy_on_delete on the old root context (cpp-host
// 52a0291). Requests then go to the new root context, HTTP calls of the
// old one are not answered, and the tick period starts unset.
//
// When the new configuration is refused, the old plugin keeps serving (the
// main thread refuses the update before workers see it) and the error
// says so.
func (vm *VM) PushConfig(config []byte) error {
	if vm.err != nil {
		return vm.err
	}
	next := vm.plugin
	next.Configuration = config
	if _, err := vm.host.canary(next); err != nil {
		return fmt.Errorf("the pushed configuration is rejected: %w", err)
	}
	old := vm.root
	id := vm.nextID
	vm.nextID++
	prev := vm.plugin.Configuration
	vm.plugin.Configuration = config
	vm.roots[id] = true
	vm.cur = id
	if _, err := vm.call("proxy_on_context_create", uint64(id), 0); err != nil {
		return err
	}
	period := vm.TickPeriod
	vm.TickPeriod = 0
	r, err := vm.call("proxy_on_configure", uint64(id), uint64(len(config)))
	if err != nil {
		return err
	}
	if r != 1 {
		delete(vm.roots, id)
		vm.plugin.Configuration, vm.TickPeriod, vm.cur = prev, period, old
		return fmt.Errorf("proxy_on_configure refused the pushed configuration; logs: %s", vm.logText())
	}
	vm.root = id
	vm.cur = old
	if _, err := vm.call("proxy_on_done", uint64(old)); err != nil {
		return err
	}
	if _, err := vm.call("proxy_on_delete", uint64(old)); err != nil {
		return err
	}
	delete(vm.roots, old)
	vm.cur = id
	return nil
}
