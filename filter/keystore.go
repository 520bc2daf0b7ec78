package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/filter/internal/bridge"
	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keyfetch"
)

// The key store: with a key_store section, the plugin fetches a signed key
// snapshot with proxy_http_call at start and then on every tick (the tick
// period is the refresh interval), and swaps in a policy with its keys once
// it is verified and indexed. The state machine is policy/keyfetch's
// Fetcher; this file performs its actions with the proxy: HTTP calls, tick
// periods, counters, log lines, the swap, and two kinds of state kept
// beyond one plugin's life:
//
//   - the generation floor, in the proxy's shared data (per plugin name and
//     key store), so that no plugin of this proxy process loads a snapshot
//     older than one already enforced, after a configuration push or in a
//     reloaded VM;
//   - the last verified snapshot of each key store, in the VM (vmContext),
//     so that a plugin restarted by a configuration push serves keys at
//     once instead of answering 503 until its first fetch.
//
// Each worker VM fetches and holds its own copy: workers converge within
// one refresh.

// loadTickPeriod is the fast tick period, in milliseconds.
var loadTickPeriod = uint32(keyfetch.LoadTickPeriod / time.Millisecond)

type keyStore struct {
	f        *keyfetch.Fetcher
	cfg      *policy.KeyStoreConfig
	identity string

	// The counters by keyfetch.Outcome and by policy.LoadCause
	// (internal/metricname); index 0, no outcome or cause, is unset.
	fetches    [keyfetch.NumOutcomes]proxywasm.MetricCounter
	rejects    [policy.NumLoadCauses]proxywasm.MetricCounter
	generation gauge
	age        gauge
	keys       gauge
}

func newKeyStore(p *pluginContext, base *policy.Policy, prefix string) *keyStore {
	cfg := base.KeyStore()
	k := &keyStore{cfg: cfg, identity: cfg.Identity(),
		generation: gauge{g: proxywasm.DefineGaugeMetric(metricname.KeyStoreGeneration)},
		age:        gauge{g: proxywasm.DefineGaugeMetric(metricname.KeyStoreAge)},
		keys:       gauge{g: proxywasm.DefineGaugeMetric(metricname.KeyStoreKeys)},
	}
	for _, o := range keyfetch.Outcomes() {
		k.fetches[o] = proxywasm.DefineCounterMetric(metricname.KeyStoreFetch(o))
	}
	for _, c := range policy.LoadCauses() {
		k.rejects[c] = proxywasm.DefineCounterMetric(metricname.KeyStoreReject(c))
	}
	sum := sha256.Sum256([]byte(k.identity))
	floor := &sharedFloor{key: prefix + "keystore/" + hex.EncodeToString(sum[:8]), errors: p.metrics.storeErrors}
	k.f = keyfetch.New(base, floor)
	return k
}

// retryAfter is the Retry-After of a 503 while no snapshot is loaded.
func (k *keyStore) retryAfter() int { return k.f.RetryAfter() }

// start binds the snapshot this VM verified last for the same key store,
// if any, then fetches.
func (k *keyStore) start(p *pluginContext) {
	k.apply(p, k.f.Start(time.Now(), p.vm.verified[k.identity]))
}

// tick continues a load or a ranged fetch, or starts the next fetch.
func (k *keyStore) tick(p *pluginContext) {
	k.apply(p, k.f.Tick(time.Now()))
	k.updateAge()
}

// reset drops the fetch and load in progress after a panic.
func (k *keyStore) reset(p *pluginContext) { k.apply(p, k.f.Reset()) }

// apply performs what the fetcher asked for. The policy is swapped here,
// and only here, between two requests of the worker.
func (k *keyStore) apply(p *pluginContext, a keyfetch.Actions) {
	if a.Swap != nil {
		p.setPolicy(a.Swap)
		p.vm.verified[k.identity] = a.Verified
		h := a.Verified.Header()
		k.generation.set(int64(h.Generation))
		k.keys.set(int64(h.Keys))
		k.updateAge()
	}
	if a.Outcome != 0 {
		k.fetches[a.Outcome].Increment(1)
	}
	if a.Cause != 0 {
		k.rejects[a.Cause].Increment(1)
	}
	for _, l := range a.Logs {
		switch l.Level {
		case keyfetch.Info:
			proxywasm.LogInfo(l.Msg)
		case keyfetch.Warn:
			proxywasm.LogWarn(l.Msg)
		default:
			proxywasm.LogError(l.Msg)
		}
	}
	if a.TickPeriod != 0 {
		if err := proxywasm.SetTickPeriodMilliSeconds(uint32(a.TickPeriod / time.Millisecond)); err != nil {
			proxywasm.LogErrorf("apiguard: key store: setting the tick period: %v", err)
		}
	}
	if a.Call != nil {
		k.dispatch(p, a.Call)
	}
	trackReload(k, k.f.Reloading())
}

// dispatch makes the fetcher's HTTP call; its answer goes to Response.
func (k *keyStore) dispatch(p *pluginContext, c *keyfetch.Call) {
	_, err := proxywasm.DispatchHttpCall(k.cfg.Cluster, c.Headers, nil, nil, uint32(c.Timeout/time.Millisecond),
		func(numHeaders, bodySize, _ int) {
			defer func() {
				// Never let a bug take the worker's VM down: drop this fetch,
				// keep the snapshot in use, try again at the next refresh.
				if r := recover(); r != nil {
					p.metrics.internalErrors.Increment(1)
					proxywasm.LogCriticalf("apiguard: internal error in the key store: %v", r)
					k.reset(p)
				}
			}()
			if p.keyStore != k {
				return // a call of a plugin since replaced
			}
			began := time.Now()
			var hs policy.HeaderList
			if numHeaders > 0 {
				h, err := proxywasm.GetHttpCallResponseHeaders()
				if err != nil {
					proxywasm.LogErrorf("apiguard: key store: reading the response headers: %v", err)
				}
				hs = policy.HeaderList(h)
			}
			k.apply(p, k.f.Response(began, hs, callBody(bodySize)))
		})
	if err != nil {
		k.apply(p, k.f.CallFailed(err))
	}
}

// callBody is the body of the HTTP call being answered.
type callBody int

func (b callBody) Size() int { return int(b) }

func (b callBody) Read(offset, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	return proxywasm.GetHttpCallResponseBody(offset, n)
}

// ReadInto has the host write n bytes of the body from offset straight
// into dst's free capacity (bridge.ReadInto), so that a large range is not
// copied again.
func (b callBody) ReadInto(dst []byte, offset, n int) ([]byte, error) {
	if n == 0 {
		return dst[:0], nil
	}
	var err error
	data, _ := bridge.ReadInto(dst[len(dst):cap(dst)], func() []byte {
		var d []byte
		d, err = proxywasm.GetHttpCallResponseBody(offset, n)
		return d
	})
	return data, err
}

func (k *keyStore) updateAge() {
	if !k.f.Loaded() {
		return
	}
	if age := time.Now().UnixNano() - k.f.Created(); age > 0 {
		k.age.set(age / int64(time.Second))
	} else {
		k.age.set(0)
	}
}

// sharedFloor is the generation floor in the proxy's shared data: 8 bytes
// of generation and the snapshot's 32-byte digest, under a key of the
// plugin's prefix and the key store's identity. Shared data lives as long
// as the proxy process, across configuration pushes and VM reloads
// (cpp-host src/shared_data.cc); a new Envoy process starts without it.
type sharedFloor struct {
	key    string
	errors proxywasm.MetricCounter
}

func (s *sharedFloor) Get() (gen uint64, digest [32]byte, ok bool) {
	v, _, err := proxywasm.GetSharedData(s.key)
	if err != nil || len(v) != 40 {
		if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
			s.errors.Increment(1)
			proxywasm.LogErrorf("apiguard: key store: reading the generation floor: %v", err)
		}
		return 0, digest, false
	}
	copy(digest[:], v[8:])
	return binary.LittleEndian.Uint64(v), digest, true
}

// Raise records gen unless a higher generation is recorded: compare and
// swap, retried while other workers write.
func (s *sharedFloor) Raise(gen uint64, digest [32]byte) {
	v := binary.LittleEndian.AppendUint64(make([]byte, 0, 40), gen)
	v = append(v, digest[:]...)
	for range maxCASAttempts {
		old, cas, err := proxywasm.GetSharedData(s.key)
		switch {
		case errors.Is(err, types.ErrorStatusNotFound):
			cas = 0
		case err != nil:
			s.errors.Increment(1)
			proxywasm.LogErrorf("apiguard: key store: reading the generation floor: %v", err)
			return
		case len(old) == 40 && binary.LittleEndian.Uint64(old) >= gen:
			return
		}
		err = proxywasm.SetSharedData(s.key, v, cas)
		if errors.Is(err, types.ErrorStatusCasMismatch) {
			continue
		}
		if err != nil {
			s.errors.Increment(1)
			proxywasm.LogErrorf("apiguard: key store: recording the generation floor: %v", err)
		}
		return
	}
}

// gauge sets a proxy-wasm gauge. The SDK only lets a gauge be added to;
// proxy_record_metric, which SDK exposes for histograms, sets a gauge in
// Envoy (Context::recordMetric), so that every worker writes the same value
// instead of adding its own to the sum.
type gauge struct {
	g proxywasm.MetricGauge
	v int64
}

func (g *gauge) set(v int64) {
	if v == g.v {
		return
	}
	defer func() {
		if r := recover(); r != nil { // the SDK panics on a failed host call
			proxywasm.LogErrorf("apiguard: setting a key store gauge: %v", r)
		}
	}()
	proxywasm.MetricHistogram(g.g).Record(uint64(max(v, 0)))
	g.v = v
}
