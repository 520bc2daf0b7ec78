package main

import (
	"net/http"
	"time"
)

// testKeyCluster is the cluster of the test key store.
const testKeyCluster = "apiguard-keys"

// testKeyStore answers the plugin's HTTP calls to testKeyCluster with
// handler (driver.Config.Clusters): in cpphost through a loopback server
// (real HTTP), in the SDK's emulator in-process, where a handler that
// aborts (panics) or takes longer than timeout is a failed call, as Envoy
// reports a reset or a timeout.
type testKeyStore struct {
	handler http.Handler
	timeout time.Duration
}

// tick runs the plugin's proxy_on_tick.
func (e *env) tick() {
	e.t.Helper()
	if err := e.d.Tick(); err != nil {
		e.t.Fatalf("tick: %v", err)
	}
}

// deliver answers the plugin's pending HTTP calls, and those their
// callbacks make (a snapshot fetched in ranges), and returns how many.
func (e *env) deliver() int {
	e.t.Helper()
	n, err := e.d.DeliverHTTPCalls()
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// deliverAll is deliver, then settle.
func (e *env) deliverAll() int {
	e.t.Helper()
	n := e.deliver()
	return n + e.settle()
}

// refresh is one refresh interval: a tick, then the answers to its fetch
// (one HTTP call, or one per range) and the ticks that follow at the
// plugin's fast tick period while it fetches ranges or loads. It returns
// how many HTTP calls were answered.
func (e *env) refresh() int {
	e.t.Helper()
	e.tick()
	n := e.deliver()
	if n == 0 {
		e.t.Fatal("refresh: no HTTP call answered")
	}
	n += e.settle()
	return n
}

// settle ticks while the plugin ticks fast (a ranged fetch or a load in
// progress), answering its HTTP calls, and returns how many it answered.
func (e *env) settle() int {
	e.t.Helper()
	n := 0
	for i := 0; e.tickPeriod() == time.Duration(loadTickPeriod)*time.Millisecond; i++ {
		if i == 100000 {
			e.t.Fatal("the plugin still ticks fast after 100000 ticks")
		}
		e.tick()
		n += e.deliver()
	}
	return n
}

func (e *env) tickPeriod() time.Duration { return e.d.TickPeriod() }

// testCall is one HTTP call the plugin made.
type testCall struct {
	cluster string
	headers [][2]string
}

func (e *env) httpCalls() []testCall {
	var out []testCall
	for _, c := range e.d.HTTPCalls() {
		out = append(out, testCall{c.Cluster, c.Headers})
	}
	return out
}

// pushConfig pushes a new plugin configuration as Envoy does for an update
// that changes only the plugin configuration: the VM is kept and a new
// plugin starts in it (driver.Env.PushConfig).
func (e *env) pushConfig(config []byte) {
	e.t.Helper()
	if err := e.d.PushConfig(config); err != nil {
		e.t.Fatalf("pushing a configuration: %v", err)
	}
}
