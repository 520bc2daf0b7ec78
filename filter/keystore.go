package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/filter/internal/bridge"
	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// The key store: with a key_store section, the plugin's root context
// fetches a signed key snapshot with proxy_http_call at start and then on
// every tick (the tick period is the refresh interval), and swaps in a
// policy with its keys once it is verified and indexed. Each worker VM
// fetches and holds its own copy: nothing is shared between VMs, so every
// worker converges on its own within one refresh.
//
// Loading a large snapshot is spread over callbacks: the response callback
// and then ticks at loadTickPeriod each do loadBudget of work (hashing,
// checking, indexing) while the previous policy keeps serving.

// Key store metric names.
const (
	metricKSGeneration = "apiguard.key_store.generation"  // gauge: generation of the snapshot in use, 0 for none
	metricKSAge        = "apiguard.key_store.age_seconds" // gauge: seconds since the snapshot in use was built
	metricKSKeys       = "apiguard.key_store.keys"        // gauge: keys of the snapshot in use
	metricKSFetch      = "apiguard.key_store.fetch."      // + outcome: counter
	metricKSReject     = "apiguard.key_store.reject."     // + cause: counter
)

// Fetch outcomes.
const (
	fetchLoaded      = "loaded"       // a newer snapshot was loaded
	fetchUnchanged   = "unchanged"    // 200 with the snapshot already in use
	fetchNotModified = "not_modified" // 304
	fetchFailed      = "failed"       // no response: refused, reset, timeout, bad cluster
	fetchHTTPError   = "http_error"   // a status other than 200 and 304
	fetchRejected    = "rejected"     // a body that was not loaded (see the reject causes)
)

var (
	ksFetchOutcomes   = []string{fetchLoaded, fetchUnchanged, fetchNotModified, fetchFailed, fetchHTTPError, fetchRejected}
	ksFetchNames      = prefixed(metricKSFetch, ksFetchOutcomes)
	ksRejectNames     = prefixed(metricKSReject, policy.LoadCauses())
	ksGenerationName  = metricKSGeneration
	ksAgeName         = metricKSAge
	ksKeysMetricName  = metricKSKeys
	loadBudget        = 8 * time.Millisecond
	loadTickPeriod    = uint32(1) // milliseconds
	stuckFetchPadding = 5 * time.Second
)

// prefixed returns prefix+name for each name, by name. Package variables:
// see decisionMetricNames.
func prefixed(prefix string, names []string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = prefix + n
	}
	return m
}

type keyStore struct {
	cfg  *policy.KeyStoreConfig
	base *policy.Policy // the compiled configuration, without keys

	fetches    map[string]proxywasm.MetricCounter
	rejects    map[string]proxywasm.MetricCounter
	generation gauge
	age        gauge
	keys       gauge

	loaded  bool
	gen     uint64
	digest  [32]byte
	created int64
	etag    string

	inFlight   bool
	fetchStart time.Time
	// parts is the snapshot received so far in a ranged fetch, partsETag
	// the ETag of its first part.
	parts     []byte
	partsETag string

	loader      *policy.Loader
	loaderETag  string
	loadStarted time.Time
	fastTicks   bool // ticks at loadTickPeriod while a load is in progress

	// state is the last state logged, so that a failure repeating at every
	// refresh is logged once.
	state string
}

func newKeyStore(base *policy.Policy) *keyStore {
	k := &keyStore{cfg: base.KeyStore(), base: base,
		fetches: map[string]proxywasm.MetricCounter{}, rejects: map[string]proxywasm.MetricCounter{},
		generation: gauge{g: proxywasm.DefineGaugeMetric(ksGenerationName)},
		age:        gauge{g: proxywasm.DefineGaugeMetric(ksAgeName)},
		keys:       gauge{g: proxywasm.DefineGaugeMetric(ksKeysMetricName)},
	}
	for o, name := range ksFetchNames {
		k.fetches[o] = proxywasm.DefineCounterMetric(name)
	}
	for c, name := range ksRejectNames {
		k.rejects[c] = proxywasm.DefineCounterMetric(name)
	}
	return k
}

// retryAfter is the Retry-After of a 503 while no snapshot is loaded: the
// next fetch is at most one period away.
func (k *keyStore) retryAfter() int { return int((k.period() + time.Second - 1) / time.Second) }

// firstRetry is how often the store is asked while no snapshot is loaded:
// at most every second (a cluster may not answer yet when Envoy starts),
// then every refresh.
const firstRetry = time.Second

// period is the interval between fetches.
func (k *keyStore) period() time.Duration {
	if !k.loaded {
		return min(k.cfg.Refresh, firstRetry)
	}
	return k.cfg.Refresh
}

// start begins fetching: now, and at every tick.
func (k *keyStore) start(p *pluginContext) {
	k.setTickPeriod(k.period())
	k.fetch(p)
}

func (k *keyStore) setTickPeriod(d time.Duration) {
	if err := proxywasm.SetTickPeriodMilliSeconds(uint32(d / time.Millisecond)); err != nil {
		proxywasm.LogErrorf("apiguard: key store: setting the tick period: %v", err)
	}
}

// tick continues a load in progress, or starts the next fetch.
func (k *keyStore) tick(p *pluginContext) {
	if k.loader != nil {
		k.step(p, time.Now())
		return
	}
	if k.parts != nil && !k.inFlight {
		k.call(p, len(k.parts)) // the next range
		return
	}
	k.updateAge()
	if k.inFlight && time.Since(k.fetchStart) < k.cfg.Timeout+stuckFetchPadding {
		return // the host answers every call, at the latest when it times out
	}
	k.fetch(p)
}

func (k *keyStore) updateAge() {
	if !k.loaded {
		return
	}
	if age := time.Now().UnixNano() - k.created; age > 0 {
		k.age.set(age / int64(time.Second))
	} else {
		k.age.set(0)
	}
}

func (k *keyStore) fetch(p *pluginContext) {
	k.parts, k.partsETag = nil, ""
	k.call(p, 0)
}

// call sends the request for the snapshot, or for its part from offset on
// when the snapshot is fetched in ranges (chunk_size; one range per tick,
// at loadTickPeriod): the first request
// asks for the first range, with If-None-Match; the next ones for the next
// ranges, with If-Range, so that a snapshot replaced meanwhile comes whole
// (200) instead of in mixed parts.
func (k *keyStore) call(p *pluginContext, offset int) {
	headers := [][2]string{{":method", "GET"}, {":path", k.cfg.Path}, {":authority", k.cfg.Authority},
		{"accept", "application/octet-stream"}}
	if offset == 0 && k.etag != "" {
		headers = append(headers, [2]string{"if-none-match", k.etag})
	}
	if n := k.cfg.ChunkSize; n > 0 {
		headers = append(headers, [2]string{"range", "bytes=" + strconv.Itoa(offset) + "-" + strconv.Itoa(offset+n-1)})
		if offset > 0 && k.partsETag != "" {
			headers = append(headers, [2]string{"if-range", k.partsETag})
		}
	}
	_, err := proxywasm.DispatchHttpCall(k.cfg.Cluster, headers, nil, nil, uint32(k.cfg.Timeout/time.Millisecond),
		func(numHeaders, bodySize, _ int) {
			defer func() {
				// Never let a bug take the worker's VM down: drop this fetch,
				// keep the snapshot in use, try again at the next refresh.
				if r := recover(); r != nil {
					p.metrics.internalErrors.Increment(1)
					proxywasm.LogCriticalf("apiguard: internal error in the key store: %v", r)
					k.loader, k.parts, k.inFlight = nil, nil, false
					if k.fastTicks {
						k.setLoadTicking(false)
					}
				}
			}()
			k.response(p, numHeaders, bodySize)
		})
	if err != nil {
		k.parts = nil
		k.outcome(fetchFailed, "", "cannot call cluster "+strconv.Quote(k.cfg.Cluster)+": "+err.Error())
		return
	}
	k.inFlight, k.fetchStart = true, time.Now()
}

// maxSnapshotSize bounds the size a 206's Content-Range may announce.
const maxSnapshotSize = 1 << 30

// response handles the answer of the store.
func (k *keyStore) response(p *pluginContext, numHeaders, bodySize int) {
	began := time.Now()
	k.inFlight = false
	parts := k.parts
	k.parts = nil // kept below only while a ranged fetch goes on
	defer func() {
		if k.fastTicks && k.loader == nil && k.parts == nil {
			k.setLoadTicking(false) // a ranged fetch ended without a load
		}
	}()
	if numHeaders == 0 {
		k.outcome(fetchFailed, "", "no response from cluster "+strconv.Quote(k.cfg.Cluster)+
			" (connection refused or reset, or no answer within "+k.cfg.Timeout.String()+")")
		return
	}
	hs, err := proxywasm.GetHttpCallResponseHeaders()
	if err != nil {
		k.outcome(fetchFailed, "", "reading the response headers: "+err.Error())
		return
	}
	h := policy.HeaderList(hs)
	status, _ := h.Get(":status")
	etag, _ := h.Get("etag")
	switch status {
	case "200", "206":
	case "304":
		k.outcome(fetchNotModified, "", "")
		return
	default:
		k.outcome(fetchHTTPError, "", "the key store answered status "+strconv.Quote(status))
		return
	}
	var body []byte
	readBody := func() []byte {
		if bodySize > 0 {
			body, err = proxywasm.GetHttpCallResponseBody(0, bodySize)
		}
		return body
	}
	if status == "200" {
		if readBody(); err != nil {
			k.outcome(fetchFailed, "", "reading the response body: "+err.Error())
			return
		}
	} else {
		cr, _ := h.Get("content-range")
		first, last, total, ok := parseContentRange(cr)
		switch {
		case !ok || total > maxSnapshotSize || last-first+1 != bodySize || first != len(parts) || parts == nil && first != 0 ||
			parts != nil && cap(parts) != total+bridge.ReadRoom:
			k.outcome(fetchHTTPError, "", "the key store answered 206 with content-range "+strconv.Quote(cr)+
				" for "+strconv.Itoa(bodySize)+" bytes at offset "+strconv.Itoa(len(parts)))
			return
		case parts == nil:
			parts = make([]byte, 0, total+bridge.ReadRoom)
			k.partsETag = etag
		}
		// The host writes the range straight into place.
		data, into := bridge.ReadInto(parts[len(parts):cap(parts)], readBody)
		if err != nil || len(data) != bodySize {
			k.outcome(fetchFailed, "", "reading the response body: "+fmt.Sprint(err))
			return
		}
		if into {
			parts = parts[:len(parts)+len(data)]
		} else {
			parts = append(parts, data...)
		}
		if len(parts) < total {
			// The next range is asked for on the next tick, so that this
			// callback ends first (and copies one range only).
			k.parts = parts
			if !k.fastTicks {
				k.setLoadTicking(true)
			}
			return
		}
		body = parts[:total:total]
	}
	k.partsETag = ""
	l, err := k.base.NewLoader(body)
	if err != nil {
		k.reject(err)
		return
	}
	hdr := l.Header()
	if k.loaded && hdr.Generation <= k.gen {
		if hdr.Generation == k.gen && hdr.Digest == k.digest {
			k.etag = etag
			k.outcome(fetchUnchanged, "", "")
			return
		}
		k.reject(&policy.LoadError{Cause: policy.CauseOlderGeneration, Msg: "generation " +
			strconv.FormatUint(hdr.Generation, 10) + " is not newer than generation " + strconv.FormatUint(k.gen, 10) + " in use"})
		return
	}
	k.loader, k.loaderETag, k.loadStarted = l, etag, began
	k.step(p, began)
}

// parseContentRange parses "bytes FIRST-LAST/TOTAL".
func parseContentRange(v string) (first, last, total int, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	a, b, found2 := strings.Cut(rng, "-")
	if !found || !found2 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.Atoi(a)
	last, err2 = strconv.Atoi(b)
	total, err3 = strconv.Atoi(tot)
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first || last >= total {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

// step advances the load in progress by what is left of loadBudget since
// began (the start of the callback), and applies its result when done.
func (k *keyStore) step(p *pluginContext, began time.Time) {
	l := k.loader
	if !l.Step(loadBudget - time.Since(began)) {
		if !k.fastTicks {
			proxywasm.LogInfof("apiguard: key store: loading generation %d over several ticks", l.Header().Generation)
			k.setLoadTicking(true)
		}
		return
	}
	k.loader = nil
	if k.fastTicks {
		k.setLoadTicking(false)
	}
	if err := l.Err(); err != nil {
		k.reject(err)
		return
	}
	hdr := l.Header()
	p.policy = l.Policy()
	first := !k.loaded
	k.loaded, k.gen, k.digest, k.created, k.etag = true, hdr.Generation, hdr.Digest, hdr.Created, k.loaderETag
	if first && !k.fastTicks {
		k.setTickPeriod(k.period())
	}
	k.generation.set(int64(hdr.Generation))
	k.keys.set(int64(hdr.Keys))
	k.updateAge()
	k.outcome(fetchLoaded, "", "")
	st := l.Stats()
	proxywasm.LogInfof("apiguard: key store: loaded generation %d (%d consumers, %d keys, %d bytes, built %s) in %s: verify %s, index %s, %d steps",
		hdr.Generation, hdr.Consumers, hdr.Keys, keysnap.HeaderSize+hdr.BodyLen, hdr.CreatedTime().Format(time.RFC3339),
		time.Since(k.loadStarted).Round(time.Millisecond), st.Verify.Round(time.Microsecond), st.Index.Round(time.Microsecond), st.Steps)
}

func (k *keyStore) setLoadTicking(on bool) {
	k.fastTicks = on
	if on {
		_ = proxywasm.SetTickPeriodMilliSeconds(loadTickPeriod)
		return
	}
	k.setTickPeriod(k.period())
}

const stateOK = "ok"

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

func (k *keyStore) reject(err error) {
	le, ok := err.(*policy.LoadError)
	if !ok {
		le = &policy.LoadError{Cause: policy.CauseInvalid, Msg: err.Error()}
	}
	if c, ok := k.rejects[le.Cause]; ok {
		c.Increment(1)
	}
	k.outcome(fetchRejected, le.Cause, le.Error())
}

// outcome counts a fetch, and logs it when the state changes. msg never
// holds key material: load errors name ids, never keys or digests.
func (k *keyStore) outcome(outcome, cause, msg string) {
	if c, ok := k.fetches[outcome]; ok {
		c.Increment(1)
	}
	switch outcome {
	case fetchLoaded, fetchUnchanged, fetchNotModified:
		if k.state != stateOK && k.state != "" {
			proxywasm.LogInfof("apiguard: key store: fetching works again (generation %d in use)", k.gen)
		}
		k.state = stateOK
		return
	}
	state := outcome + "/" + cause
	if state == k.state {
		return
	}
	k.state = state
	if k.loaded {
		proxywasm.LogWarnf("apiguard: key store: %s; keeping generation %d", msg, k.gen)
	} else {
		proxywasm.LogErrorf("apiguard: key store: %s; no snapshot loaded yet: requests that need a key get 503", msg)
	}
}
