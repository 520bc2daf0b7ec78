package main

import (
	"os"
	"runtime"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/policy"
)

// vmContext is the per-VM root. Envoy runs one VM per worker thread, and
// keeps it across configuration pushes that change only the plugin
// configuration: the new configuration starts a new plugin context in the
// same VM.
type vmContext struct {
	types.DefaultVMContext
	// verified holds the last snapshot each key store (by
	// KeyStoreConfig.Identity) loaded in this VM, so that a plugin started
	// by a configuration push serves its keys at once (keystore.go).
	verified map[string]*policy.Verified
}

func newVMContext() types.VMContext { return &vmContext{verified: map[string]*policy.Verified{}} }

func (v *vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{vm: v} }

// pluginContext holds one compiled configuration; it is immutable after
// OnPluginStart, and every request of the VM reads it.
type pluginContext struct {
	types.DefaultPluginContext
	vm      *vmContext
	policy  *policy.Policy
	metrics *metrics
	limiter limiter
	// fields keeps the constant parts of recent buckets' RateLimit fields
	// (ratelimit_fields.go); header is where a RateLimit value is
	// formatted.
	fields bucketFieldsCache
	header []byte
	// path is where Decide writes a new :path (policy.Request.PathBuffer),
	// which applyAllow hands to the host in the same callback.
	path    []byte
	build   proxywasm.MetricGauge // this build's gauge, counted once at start
	counted bool                  // build holds this instance
	// keyStore is set when the keys come from a key store (keystore.go);
	// policy is then swapped for one with a snapshot's keys.
	keyStore *keyStore
	// expiry is the apiguard.keys.expiring gauge (key_expiry.go), nil
	// without key_policy.
	expiry *keyExpiry
	// seals counts sealed cursors (cursor_seal.go), nil when none are.
	seals *sealMetrics
	// tokens mints and keeps the identity tokens (identity.go), nil
	// without identity_token; untrusted lists the headers a client may
	// never set: the identity headers and the token's.
	tokens    *tokenCache
	untrusted []string
}

// OnPluginStart compiles the configuration. Any error fails the start, so
// Envoy refuses the filter (fail closed); each problem is logged on its own
// line with its JSON path.
//
// Envoy runs OnPluginStart once on the main thread, where a failure refuses
// the configuration, and then once in each worker's VM, where a failure
// makes the filter fail open on that worker (docs/operations.md, "Failure modes"). So
// nothing here may fail on one worker and not on another: the outcome
// depends only on the configuration and on the plugin_name and
// plugin_root_id properties, which come from the same configuration, and
// the metric names are constants. No clock is read. Shared data (prepare)
// differs between workers (the first creates the buckets, the others find
// them), so its errors are logged and counted, never fatal. Only running
// out of memory, or a trap, can still differ between VMs.
func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	p.build, p.counted = announceBuild(), true
	p.metrics = newMetrics()
	name, from := pluginName(proxywasm.GetProperty)
	p.limiter = limiter{store: &hostStore{prefix: pluginPrefix(name)}, metrics: p.metrics, state: new([policy.StateLen]byte),
		empty: new(emptyBuckets)}
	p.path = pathBuffer()
	cfg, err := proxywasm.GetPluginConfiguration()
	if err != nil && err != types.ErrorStatusNotFound {
		p.metrics.configErrors.Increment(1)
		proxywasm.LogCriticalf("apiguard: reading the plugin configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	// The signing key of identity_token comes from the VM's environment,
	// which Envoy hands the module through WASI environ_get.
	pol, err := policy.CompileWith(cfg, policy.Options{LookupEnv: os.LookupEnv})
	if err != nil {
		logConfigError(p.metrics, err)
		return types.OnPluginStartStatusFailed
	}
	if err := p.bindCursorKeys(pol); err != nil {
		logConfigError(p.metrics, err)
		return types.OnPluginStartStatusFailed
	}
	p.setPolicy(pol)
	identity := pol.IdentityHeaders()
	p.untrusted = identity[:]
	if tok := pol.IdentityToken(); tok != nil {
		p.tokens = newTokenCache(tok)
		p.untrusted = append(p.untrusted[:3:3], tok.Header)
	}
	total, created, err := p.limiter.prepare(pol)
	// Compiling a large configuration leaves garbage behind: collect it now,
	// before serving, so that the first collection under traffic starts from
	// the policy's own size (100k keys: 48 MiB of linear memory under steady
	// traffic instead of 69).
	runtime.GC()
	if err != nil {
		// Not fatal: take creates a missing bucket on first use.
		p.metrics.storeErrors.Increment(1)
		proxywasm.LogErrorf("apiguard: creating rate-limit buckets: %v", err)
	}
	for _, w := range pol.Warnings() {
		proxywasm.LogWarnf("apiguard: configuration warning: %s", w.Error())
	}
	mode := "enforce"
	if pol.Shadow() {
		mode = "shadow"
	}
	if from == "" {
		from = "no plugin_name or plugin_root_id: shared with every other unnamed plugin of this vm_id"
	}
	proxywasm.LogInfof("apiguard: configuration loaded (mode %s, %d rate-limit buckets, %d new, bucket names %q from %s)",
		mode, total, created, pluginPrefix(name), from)
	if pol.KeyStore() != nil {
		p.keyStore = newKeyStore(p, pol, pluginPrefix(name))
		p.keyStore.start(p)
	}
	p.startKeyExpiry()
	return types.OnPluginStartStatusOK
}

// OnPluginDone takes this instance off the build gauge.
func (p *pluginContext) OnPluginDone() bool {
	if p.keyStore != nil {
		trackReload(p.keyStore, false)
	}
	if p.counted {
		p.build.Add(-1)
		p.counted = false
	}
	return true
}

// OnTick drives the key store: fetches, and loads spread over ticks.
func (p *pluginContext) OnTick() {
	defer func() {
		if r := recover(); r != nil {
			p.metrics.internalErrors.Increment(1)
			proxywasm.LogCriticalf("apiguard: internal error in the key store: %v", r)
			if ks := p.keyStore; ks != nil {
				ks.reset(p)
			}
		}
	}()
	if p.keyStore != nil {
		p.keyStore.tick(p)
	}
	p.tickKeyExpiry()
}

// setPolicy makes pol the policy requests are decided by: the one place
// the policy changes (a plugin start, a key snapshot swapped in), always
// between two requests of the worker. What the filter kept of the policy
// before goes with it.
func (p *pluginContext) setPolicy(pol *policy.Policy) {
	p.policy = pol
	forgetRecords()
	forgetReplies()
	p.limiter.empty.clear()
}

func logConfigError(m *metrics, err error) {
	ce, ok := err.(*policy.ConfigError)
	if !ok {
		m.configErrors.Increment(1)
		proxywasm.LogCriticalf("apiguard: invalid configuration: %v", err)
		return
	}
	for _, fe := range ce.Errors {
		m.configErrors.Increment(1)
		proxywasm.LogCriticalf("apiguard: invalid configuration: %s", fe.Error())
	}
}

func (p *pluginContext) NewHttpContext(id uint32) types.HttpContext {
	h := streams.get()
	h.plugin, h.id = p, id
	return h
}

// httpContext handles one request: it asks the policy and applies the
// answer. Contexts are reused once the host has deleted them
// (stream_pool.go): everything a stream keeps lives here, and a reused
// context starts zero.
type httpContext struct {
	types.DefaultHttpContext
	plugin *pluginContext
	id     uint32 // the host's context id

	// Set when the request was admitted by a rate-limited route, for the
	// RateLimit headers on the response.
	limit     *policy.Limit
	limitRes  policy.TakeResult
	partition string
	bucket    string

	// sealing is set when the response's cursors are to be sealed
	// (cursor_seal.go).
	sealing *sealState
	// tokens is the bucket's answer, for the filter state (filterstate.go).
	tokens tokens
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) (action types.Action) {
	p := h.plugin
	defer func() {
		// Never let a bug take the worker's VM down: fail this request closed.
		if r := recover(); r != nil {
			p.metrics.internalErrors.Increment(1)
			proxywasm.LogCriticalf("apiguard: internal error: %v", r)
			sendInternalError()
			action = types.ActionPause
		}
	}()
	if p.policy == nil {
		p.metrics.internalErrors.Increment(1)
		sendInternalError()
		return types.ActionPause
	}
	headers, err := readRequestHeaders()
	if err != nil {
		p.metrics.internalErrors.Increment(1)
		proxywasm.LogErrorf("apiguard: reading request headers: %v", err)
		sendInternalError()
		return types.ActionPause
	}
	var j judged
	h.judge(&j, headers)
	if p.policy.Shadow() {
		return h.applyShadow(&j)
	}
	return h.enforce(&j)
}

// judged is a request and the decision on it.
type judged struct {
	d            policy.Decision
	method, path string
	headers      policy.HeaderList
	now          time.Time
	clientIP     string
}

// log writes the decision log line of j with outcome o.
func (j *judged) log(o policy.Outcome) {
	logDecision(o, &j.d, j.method, j.path, j.headers, j.now, j.clientIP)
}

// judge decides a request with headers into j: the policy's decision,
// 503 while no key snapshot is loaded, and the rate limit of an allowed
// request; then counts the decision and publishes it in the filter state.
func (h *httpContext) judge(j *judged, headers policy.HeaderList) {
	p := h.plugin
	j.headers = headers
	j.method, j.path = methodAndPath(headers)
	j.now, j.clientIP = requestTime(), clientIP()
	p.policy.DecideInto(&j.d, &policy.Request{
		Method:     j.method,
		Path:       j.path,
		Headers:    headers,
		ClientIP:   j.clientIP,
		Now:        j.now,
		PathBuffer: p.path,
	})
	if !p.policy.KeysLoaded() {
		j.d = policy.KeyStoreUnavailable(j.d, p.keyStore.retryAfter())
	}
	if rl := &j.d.RateLimit; j.d.Allow && rl.Limit != nil {
		res, ok := p.limiter.take(rl.BucketKey, rl.Limit, j.now)
		h.tokens = counted(res, ok)
		if !ok || !res.Allowed {
			j.d = policy.RateLimitedWith(j.d, res, &p.fields.of(rl.BucketKey, rl.Limit, rl.PartitionKey).Fields)
		} else {
			h.limit, h.limitRes, h.partition, h.bucket = rl.Limit, res, rl.PartitionKey, rl.BucketKey
		}
	}
	p.metrics.decision(j.d.Reason)
	publishDecision(&j.d, p.policy.Shadow(), h.tokens)
}

// methodAndPath returns the first values of :method and :path, as
// headers.Get would, in one pass (SameHeaderName is case folding for names
// without '-' or '_').
func methodAndPath(headers policy.HeaderList) (method, path string) {
	var found [2]bool
	for _, h := range headers {
		// Exact names first: compared in place, without a call.
		switch n := h[0]; {
		case len(n) == len(":method") && !found[0] && (n == ":method" || policy.SameHeaderName(n, ":method")):
			method, found[0] = h[1], true
		case len(n) == len(":path") && !found[1] && (n == ":path" || policy.SameHeaderName(n, ":path")):
			path, found[1] = h[1], true
		}
	}
	return method, path
}

// enforce applies a decision in enforce mode: a denial is answered here; an
// allowed request goes upstream rewritten, with its identity (and token)
// and quota headers.
func (h *httpContext) enforce(j *judged) types.Action {
	p := h.plugin
	if !j.d.Allow {
		j.log(policy.OutcomeDeny)
		sendDenial(&j.d)
		return types.ActionPause
	}
	applyAllow(&j.d, p.policy.QuotaHeader(), j.headers)
	if !p.setIdentityToken(&j.d, j.now) {
		sendInternalError()
		return types.ActionPause
	}
	if err := applyQuota(&j.d, p.policy.QuotaHeader()); err != nil {
		// Without its quota header the request would not be counted
		// against the quota: fail it closed.
		p.metrics.internalErrors.Increment(1)
		proxywasm.LogErrorf("apiguard: setting header %q: %v", p.policy.QuotaHeader(), err)
		sendInternalError()
		return types.ActionPause
	}
	if p.policy.LogAllowed() {
		j.log(policy.OutcomeAllow)
	}
	h.startSeal(&j.d, j.now)
	return types.ActionContinue
}

// applyAllow rewrites the request on its way upstream: the credential and any
// client-supplied identity headers go, the identity headers are set, and the
// path is replaced when the credential parameter was removed or pagination
// was clamped or defaulted. Any client-supplied quota header goes too
// (applyQuota sets it). Headers the request does not carry are not
// removed: each removal is a host call.
func applyAllow(d *policy.Decision, quota string, request policy.HeaderList) {
	removeHeaders(d.Upstream.RemoveHeaders, quota, request)
	setIdentity(d)
	if d.Upstream.NewPath != "" {
		if err := replaceRequestHeader(":path", d.Upstream.NewPath); err != nil {
			proxywasm.LogErrorf("apiguard: rewriting :path: %v", err)
		}
	}
}

// applyShadow applies a decision in shadow mode: the request goes upstream
// whatever the decision, with the credential and the path as sent, so
// that an upstream that still checks keys keeps working; a denial is
// counted and logged as shadow_deny. Client-supplied identity headers (and
// identity tokens) go whatever the decision, and the identity headers and
// token are set when the decision is allow. The quota header is never set
// (the global rate-limit filter counts nothing in shadow mode), and a
// client-supplied one goes.
func (h *httpContext) applyShadow(j *judged) types.Action {
	p := h.plugin
	if !j.d.Allow {
		p.metrics.shadowWouldDeny.Increment(1)
		j.log(policy.OutcomeShadowDeny)
	} else if p.policy.LogAllowed() {
		j.log(policy.OutcomeAllow)
	}
	h.limit = nil
	removeHeaders(p.untrusted, p.policy.QuotaHeader(), j.headers)
	if j.d.Allow {
		setIdentity(&j.d)
		if !p.setIdentityToken(&j.d, j.now) {
			sendInternalError()
			return types.ActionPause
		}
	}
	return types.ActionContinue
}

// removeHeaders removes every request header that names one of names, or
// also ("" for none), under any spelling a back end reads as the same
// (policy.SameHeaderName): one pass, one removal per value the request
// carries. Envoy's removal takes every value of a name, so a repeated
// header costs a removal that finds nothing; the SDK's emulator takes one
// value per call, and a host that does the same still loses every copy.
func removeHeaders(names []string, also string, request policy.HeaderList) {
	for _, h := range request {
		if also != "" && len(h[0]) == len(also) && policy.SameHeaderName(h[0], also) {
			remove(h[0])
			continue
		}
		for _, name := range names {
			// The length first: most names differ in it, and the call
			// costs more than the comparison in the module.
			if len(h[0]) != len(name) || !policy.SameHeaderName(h[0], name) {
				continue
			}
			remove(h[0])
			break
		}
	}
}

// setIdentity sets the identity headers of an allowed decision.
func setIdentity(d *policy.Decision) {
	for i := range d.Upstream.SetHeaders {
		kv := &d.Upstream.SetHeaders[i]
		if kv[0] == "" {
			continue // no consumer identified (a public route)
		}
		if err := replaceRequestHeader(kv[0], kv[1]); err != nil {
			proxywasm.LogErrorf("apiguard: setting header %q: %v", kv[0], err)
		}
	}
}

// remove removes the request header name.
func remove(name string) {
	if err := removeRequestHeader(name); err != nil {
		proxywasm.LogErrorf("apiguard: removing header %q: %v", name, err)
	}
}

// applyQuota sets the quota header of an allowed request for Envoy's global
// rate-limit filter (its rate_limits actions read it with the consumer
// header); applyAllow removed any client-supplied one under every
// spelling. An error means the header could not be set.
func applyQuota(d *policy.Decision, name string) error {
	if d.RateLimit.Quota == nil {
		return nil
	}
	return replaceRequestHeader(name, d.RateLimit.Quota.Name)
}

// OnHttpStreamDone hands the context to the pool, which reuses it once the
// host has deleted it.
func (h *httpContext) OnHttpStreamDone() { streams.streamEnded(h.id, h) }

func (h *httpContext) OnHttpResponseHeaders(_ int, endOfStream bool) types.Action {
	if h.sealing != nil {
		h.sealResponseHeaders(endOfStream)
	}
	if h.limit != nil {
		p := h.plugin
		f := p.fields.of(h.bucket, h.limit, h.partition)
		_ = replaceResponseHeader("ratelimit-policy", f.Policy)
		p.header = f.AppendHeader(p.header[:0], h.limitRes)
		_ = replaceResponseHeader("ratelimit", hostCopied(p.header))
	}
	return types.ActionContinue
}
