package main

import (
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/policy"
)

// The apiguard.keys.expiring gauge (key_policy.expiry_warning): the keys
// that stop being valid within the warning window. Counting reads every key,
// so it runs on ticks only, never in a request: every expiryPeriod, and
// at the first tick after a key store swaps in a new snapshot.

// expiryPeriod is how often the gauge is recomputed; expiryFirstTick is
// the tick period until the first count when no key store ticks.
const (
	expiryPeriod    = time.Minute
	expiryFirstTick = uint32(1000)
)

// wallClock is the VM's clock; native tests replace it to run on the same
// clock as the wasm runners (wazero's and cpphost's fake clocks).
var wallClock = time.Now

// keyExpiry holds the gauge and when it was last computed, for which policy.
type keyExpiry struct {
	gauge  gauge
	last   time.Time
	policy *policy.Policy
}

// startKeyExpiry defines the gauge when the configuration has key_policy
// and, without a key store (whose ticks drive the count otherwise), asks
// for ticks.
func (p *pluginContext) startKeyExpiry() {
	if p.policy.KeyPolicy() == nil {
		return
	}
	p.expiry = &keyExpiry{gauge: gauge{g: proxywasm.DefineGaugeMetric(metricname.KeysExpiring), v: -1}}
	if p.keyStore == nil {
		if err := proxywasm.SetTickPeriodMilliSeconds(expiryFirstTick); err != nil {
			proxywasm.LogErrorf("apiguard: key_policy: setting the tick period: %v", err)
		}
	}
}

// tickKeyExpiry recomputes the gauge when it is due or the keys changed.
func (p *pluginContext) tickKeyExpiry() {
	x := p.expiry
	if x == nil {
		return
	}
	now := wallClock()
	if x.policy == p.policy && now.Sub(x.last) < expiryPeriod && !x.last.IsZero() {
		return
	}
	if p.keyStore != nil && !p.policy.KeysLoaded() {
		return // no keys yet: nothing to count
	}
	first := x.last.IsZero()
	x.policy, x.last = p.policy, now
	x.gauge.set(int64(p.policy.CountExpiring(now)))
	if first && p.keyStore == nil {
		if err := proxywasm.SetTickPeriodMilliSeconds(uint32(expiryPeriod / time.Millisecond)); err != nil {
			proxywasm.LogErrorf("apiguard: key_policy: setting the tick period: %v", err)
		}
	}
}
