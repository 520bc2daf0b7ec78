// Package driver is the one way apiguard's tests and apiguard replay drive
// the filter in a proxy-wasm host: start it with a Config, then send
// requests (Env.Do), tick it, answer its HTTP calls, and read its logs,
// metrics and filter state.
//
// Two hosts implement Env: the proxy-wasm Go SDK's emulator (proxytest),
// here (StartEmulator; with the plugin linked natively or with the compiled
// module in the SDK's wazero VM), and internal/testing/cpphost, the host
// modelled on Envoy's proxy-wasm-cpp-host. What only one host can do (a
// second worker VM over the same shared data, linear memory, Envoy's
// configuration canary) is an optional interface (Workers, Memory, Canary)
// that a caller asks for, never the name of the host. A Config the host
// cannot honour fails Start with an error wrapping ErrUnsupported.
//
// It ships: apiguard replay (internal/replay) runs requests through it.
package driver

import (
	"errors"
	"net/http"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// ErrUnsupported is wrapped by the error of a Config or call the host cannot
// honour; the error says why.
var ErrUnsupported = errors.New("not supported by this host")

// Config is what a plugin starts with.
type Config struct {
	// Configuration is the plugin configuration (the filter's JSON).
	Configuration []byte
	// PluginName is the plugin_name property (Envoy: the filter's
	// config.name; Istio: <namespace>.<name> of the WasmPlugin); "" leaves
	// the host's default: unset in the SDK's emulator, "apiguard" in
	// cpphost.
	PluginName string
	// Properties answer proxy_get_property from the start, keyed by the
	// path's segments joined by "." ("source.address", "request.time").
	Properties map[string][]byte
	// Env is the VM's environment (Envoy: vm_config.environment_variables).
	Env map[string]string
	// Clusters answer the plugin's HTTP calls by cluster name. A call to a
	// cluster not named fails, as one to a cluster Envoy does not know.
	Clusters map[string]http.Handler
	// CallTimeout bounds a handler of Clusters in a host that runs it
	// in-process: a handler that takes longer, or panics, is a failed call
	// (Envoy reports a reset or a timeout). Zero is 10s.
	CallTimeout time.Duration
	// Endpoints map cluster names to "host:port" endpoints the host
	// connects to for real (cpphost only).
	Endpoints map[string]string
}

// Request is one HTTP stream through the filter.
type Request struct {
	// Headers are the request headers, pseudo-headers included; the request
	// has no body.
	Headers [][2]string
	// Response are the upstream's response headers when the filter
	// forwards the request; nil is a bare 200.
	Response [][2]string
	// Body is the upstream's response body in chunks, the last ending the
	// stream; nil for none (the response headers end it).
	Body [][]byte
}

// Local is a response the filter sent instead of forwarding.
type Local struct {
	Status  int
	Details string
	Headers [][2]string
	Body    []byte
}

// Result is what one stream produced.
type Result struct {
	// Action is what the filter returned for the request headers.
	Action types.Action
	// Local is the filter's own response, nil when it forwarded.
	Local *Local
	// Upstream are the request headers as forwarded (nil when answered).
	Upstream [][2]string
	// Response are the response headers after the filter: the upstream's,
	// or, in a host that sends the filter's local reply back through it as
	// Envoy does (cpphost), the local reply's; nil for a local reply in the
	// SDK's emulator.
	Response [][2]string
	// Body is the response body as the client receives it (Request.Body).
	Body []byte
	// HeadersAction is what the filter returned for the response headers
	// of a stream with a body; a pause would make Envoy withhold the body.
	HeadersAction types.Action
	// Buffered is set when the filter still held the body at its end.
	Buffered bool
	// State is the stream's filter state at its end, as an access log
	// reads it: keyed by Envoy's name ("wasm." + the property path).
	State map[string]string
}

// Call is one HTTP call the plugin made.
type Call struct {
	Cluster string
	Headers [][2]string
}

// Log levels of proxy_log.
const (
	LogTrace = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

// Env is one started plugin in a host.
type Env interface {
	// Failed reports whether the plugin refused its configuration at start
	// (or after Restart).
	Failed() bool
	// Do sends one request through the plugin.
	Do(Request) (Result, error)
	// Tick runs proxy_on_tick.
	Tick() error
	// TickPeriod is the period the plugin last set.
	TickPeriod() time.Duration
	// DeliverHTTPCalls answers the plugin's pending HTTP calls, and those
	// their callbacks make, and returns how many it answered.
	DeliverHTTPCalls() (int, error)
	// HTTPCalls returns every HTTP call the plugin made, in order.
	HTTPCalls() []Call
	// Logs returns what the plugin logged at level (LogTrace...).
	Logs(level int) []string
	// Counter and Gauge return a metric's value.
	Counter(name string) (uint64, error)
	Gauge(name string) (int64, error)
	// SetProperty sets what proxy_get_property answers for path (segments
	// joined by ".") from now on.
	SetProperty(path string, value []byte) error
	// PushConfig pushes a new plugin configuration as Envoy does for an
	// update that changes only it: the VM stays, a new plugin starts in it.
	PushConfig(config []byte) error
	// Restart starts the plugin again over the same shared data, as a
	// second apiguard filter of the same vm_id would see it, with the
	// properties it has; pluginName, when not "", is its plugin_name.
	Restart(pluginName string) error
	// Finish ends the plugin as Envoy does when its configuration is
	// removed (proxy_on_done on the plugin context).
	Finish() error
	// Close releases the host's resources.
	Close()
}

// Workers is an Env whose host runs more than one worker VM of the plugin
// over the same shared data (cpphost: the SDK's emulator has one plugin
// context per process).
type Workers interface {
	// StartWorker starts another worker VM of the plugin, with the same
	// configuration and the stream properties of this one.
	StartWorker() (Env, error)
}

// Memory is an Env whose host exposes the VM's linear memory.
type Memory interface {
	// MemorySize is the size of the linear memory in bytes.
	MemorySize() uint32
}

// Canary is an Env whose host models Envoy's configuration canary.
type Canary interface {
	// Canaries is how many canary VMs ran.
	Canaries() int
	// CanaryLogs is what they logged.
	CanaryLogs() []string
	// CanceledHTTPCalls are the HTTP calls Envoy cancelled with them.
	CanceledHTTPCalls() []Call
}
