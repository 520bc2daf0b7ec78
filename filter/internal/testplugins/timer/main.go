// Command timer is a test fixture, not part of apiguard: a minimal proxy-wasm
// plugin that arms a Go runtime timer when its configuration says so, and
// allocates on every request so that garbage collections keep coming. Built
// with the stock and with the patched runtime (see tools/pollpatch), it shows
// whether a host whose poll_oneoff fails can crash a Go-built module. With
// the configuration "background" it shows whether goroutines of the module
// get to run between callbacks (see the bridge's yieldToRuntime).
package main

import (
	"runtime"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	_ "github.com/apiguard/apiguard/filter/internal/bridge"
)

func init() { proxywasm.SetVMContext(&vm{}) }

func main() {}

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct{ types.DefaultPluginContext }

// sink keeps allocations reachable for a while, so the heap grows and shrinks.
var sink [][]byte

// wake, in configuration "background", hands a token per request to a
// goroutine of the plugin, which counts it in the metric wakeups. The
// goroutine runs only when the export's goroutine yields: the counter shows
// whether the bridge lets the runtime's goroutines (the GC's mark worker
// among them) run between callbacks.
var (
	wake    chan struct{}
	wakeups proxywasm.MetricCounter
)

func (*plugin) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, _ := proxywasm.GetPluginConfiguration()
	if string(cfg) == "arm_timer" {
		// Any runtime timer initialises the runtime's poller: a cache TTL,
		// context.WithTimeout, time.Sleep, or the GC scavenger's own sleep.
		time.AfterFunc(time.Hour, func() {})
	}
	if string(cfg) == "background" {
		wakeups = proxywasm.DefineCounterMetric("fixture.background_wakeups")
		wake = make(chan struct{}, 1)
		go func() {
			for range wake {
				wakeups.Increment(1)
			}
		}()
	}
	return types.OnPluginStartStatusOK
}

func (*plugin) NewHttpContext(uint32) types.HttpContext { return &http{} }

type http struct{ types.DefaultHttpContext }

func (*http) OnHttpRequestHeaders(int, bool) types.Action {
	if wake != nil {
		select {
		case wake <- struct{}{}:
		default: // the goroutine has not taken the last token yet
		}
	}
	sink = append(sink, make([]byte, 64<<10))
	if len(sink) > 64 {
		sink = sink[:0]
	}
	// Every 500th request holds 16 MB for a moment: memory the heap then
	// no longer needs, which the background scavenger sets out to return
	// (and sleeps between its turns, on a runtime timer). Without such a
	// spike the heap stays at its goal when collections keep up, and the
	// scavenger, with nothing to do, never sleeps.
	requests++
	if requests%500 == 0 {
		spike := make([]byte, 16<<20)
		spike[len(spike)-1] = 1
		runtime.KeepAlive(spike)
	}
	return types.ActionContinue
}

// requests counts the requests.
var requests int
