package cpphost

import (
	"fmt"
	"maps"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/driver"
)

// Env is a driver.Env: one worker VM of the plugin in a host. It also
// implements driver.Workers, driver.Memory and driver.Canary.
type Env struct {
	Host *Host
	VM   *VM
	// servers answer Config.Clusters over loopback HTTP; closed by Close.
	servers []*httptest.Server
}

var (
	_ driver.Env     = (*Env)(nil)
	_ driver.Workers = (*Env)(nil)
	_ driver.Memory  = (*Env)(nil)
	_ driver.Canary  = (*Env)(nil)
)

// NewEnv starts a worker VM of c's plugin in h as an Envoy worker does
// (after the configuration canary). c's Env becomes the host's environment,
// each of c's Clusters a loopback HTTP server the host's calls reach for
// real, and c's Endpoints clusters as they are; Close stops the servers but
// leaves h to its owner. A plugin that refused its configuration is an Env
// whose Failed is true.
func NewEnv(h *Host, c driver.Config) (*Env, error) {
	e := &Env{Host: h}
	if len(c.Env) > 0 {
		h.opts.Env = c.Env
	}
	clusters := maps.Clone(h.opts.Clusters)
	if clusters == nil {
		clusters = map[string]string{}
	}
	maps.Copy(clusters, c.Endpoints)
	for name, handler := range c.Clusters {
		srv := httptest.NewServer(handler)
		e.servers = append(e.servers, srv)
		clusters[name] = srv.Listener.Addr().String()
	}
	h.opts.Clusters = clusters
	name := c.PluginName
	if name == "" {
		name = "apiguard"
	}
	vm, err := h.StartWorker(Plugin{Name: name, Configuration: c.Configuration})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("starting the plugin in cpphost %s: %w", h.profile.Name, err)
	}
	for k, v := range c.Properties {
		vm.Properties[k] = v
	}
	e.VM = vm
	return e, nil
}

// Failed implements driver.Env.
func (e *Env) Failed() bool { return e.VM.FailedOpen }

// Close implements driver.Env: it closes the VM and the loopback servers,
// and leaves the host to its owner.
func (e *Env) Close() {
	for _, s := range e.servers {
		s.Close()
	}
	e.servers = nil
	if e.VM != nil {
		e.VM.Close()
	}
}

// Do implements driver.Env.
func (e *Env) Do(r driver.Request) (driver.Result, error) {
	response := r.Response
	if response == nil {
		response = [][2]string{{":status", "200"}}
	}
	if r.Body == nil {
		res, err := e.VM.Exchange(r.Headers, response)
		if err != nil {
			return driver.Result{}, err
		}
		out := result(res)
		out.State = map[string]string{}
		for k, v := range res.FilterState {
			out.State[k] = string(v)
		}
		return out, nil
	}
	res, err := e.VM.ExchangeBody(r.Headers, response, r.Body)
	if err != nil {
		return driver.Result{}, err
	}
	out := result(res.Result)
	out.Body = res.Body
	out.HeadersAction = types.Action(res.HeadersAction)
	if n := len(res.BodyActions); n > 0 && res.BodyActions[n-1] != 0 {
		out.Buffered = true
	}
	return out, nil
}

func result(r Result) driver.Result {
	out := driver.Result{Action: types.Action(r.Action), Upstream: r.Upstream, Response: r.Response}
	if r.Local != nil {
		out.Local = &driver.Local{Status: r.Local.Status, Details: r.Local.Details, Headers: r.Local.Headers, Body: r.Local.Body}
		out.Upstream = nil
	}
	return out
}

// Tick implements driver.Env.
func (e *Env) Tick() error { return e.VM.Tick() }

// TickPeriod implements driver.Env.
func (e *Env) TickPeriod() time.Duration { return e.VM.TickPeriod }

// DeliverHTTPCalls implements driver.Env: it waits up to 10s for each
// round of answers.
func (e *Env) DeliverHTTPCalls() (int, error) {
	total := 0
	for e.VM.PendingHTTPCalls() > 0 {
		n, err := e.VM.DeliverHTTPCalls(10 * time.Second)
		if err != nil {
			return total, fmt.Errorf("delivering HTTP calls: %w", err)
		}
		if n == 0 {
			return total, fmt.Errorf("an HTTP call got no answer in 10s")
		}
		total += n
	}
	return total, nil
}

// HTTPCalls implements driver.Env: the calls of every VM of the host.
func (e *Env) HTTPCalls() []driver.Call { return calls(e.Host.HTTPCalls()) }

func calls(cs []HTTPCall) []driver.Call {
	var out []driver.Call
	for _, c := range cs {
		out = append(out, driver.Call{Cluster: c.Cluster, Headers: c.Headers})
	}
	return out
}

// Logs implements driver.Env: proxy_log, and the module's stdout at info
// and stderr at error, as Envoy logs them.
func (e *Env) Logs(level int) []string { return e.VM.LogsAt(level) }

// Counter implements driver.Env (summed over the host's VMs).
func (e *Env) Counter(name string) (uint64, error) { return e.VM.Counter(name), nil }

// Gauge implements driver.Env (summed over the host's VMs).
func (e *Env) Gauge(name string) (int64, error) { return e.VM.Gauge(name), nil }

// SetProperty implements driver.Env.
func (e *Env) SetProperty(path string, value []byte) error {
	e.VM.Properties[path] = value
	return nil
}

// PushConfig implements driver.Env (VM.PushConfig).
func (e *Env) PushConfig(config []byte) error { return e.VM.PushConfig(config) }

// Restart implements driver.Env: a new worker VM of the same vm_id takes
// over the requests.
func (e *Env) Restart(pluginName string) error {
	if pluginName == "" {
		pluginName = e.VM.plugin.Name
	}
	vm, err := e.worker(pluginName)
	if err != nil {
		return err
	}
	e.VM = vm
	return nil
}

// worker starts another worker VM of the plugin named name with the
// configuration and stream properties of e's.
func (e *Env) worker(name string) (*VM, error) {
	vm, err := e.Host.StartWorker(Plugin{Name: name, Configuration: e.VM.plugin.Configuration})
	if err != nil {
		return nil, fmt.Errorf("starting a worker in cpphost: %w", err)
	}
	for k, v := range e.VM.Properties {
		if !strings.HasPrefix(k, "plugin_") {
			vm.Properties[k] = v
		}
	}
	return vm, nil
}

// StartWorker implements driver.Workers.
func (e *Env) StartWorker() (driver.Env, error) {
	vm, err := e.worker(e.VM.plugin.Name)
	if err != nil {
		return nil, err
	}
	return &Env{Host: e.Host, VM: vm}, nil
}

// Finish implements driver.Env (VM.Done).
func (e *Env) Finish() error { return e.VM.Done() }

// MemorySize implements driver.Memory.
func (e *Env) MemorySize() uint32 { return e.VM.MemorySize() }

// Canaries implements driver.Canary.
func (e *Env) Canaries() int { return e.Host.Canaries() }

// CanaryLogs implements driver.Canary.
func (e *Env) CanaryLogs() []string {
	var out []string
	for _, l := range e.Host.CanaryLogs() {
		out = append(out, l.Msg)
	}
	return out
}

// CanceledHTTPCalls implements driver.Canary.
func (e *Env) CanceledHTTPCalls() []driver.Call { return calls(e.Host.CanceledHTTPCalls()) }

// EnvOf is the driver.Env of a VM started with the host's own API
// (StartVM, StartWorker).
func EnvOf(vm *VM) *Env { return &Env{Host: vm.host, VM: vm} }
