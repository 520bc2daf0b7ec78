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
	// rateLimitPolicies caches the RateLimit-Policy value of each bucket
	// (it depends only on the limit and the partition), so that a response
	// formats only the RateLimit field; header is where that is formatted.
	rateLimitPolicies map[string]string
	header            []byte
	build             proxywasm.MetricGauge // this build's gauge, counted once at start
	counted           bool                  // build holds this instance
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

// maxCachedPolicies bounds rateLimitPolicies; when full it starts over.
const maxCachedPolicies = 4096

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
	p.limiter = limiter{store: &hostStore{prefix: pluginPrefix(name)}, metrics: p.metrics, state: new([policy.StateLen]byte)}
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
	p.policy = pol
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

// rateLimitPolicy returns the RateLimit-Policy value of bucket.
func (p *pluginContext) rateLimitPolicy(bucket string, l *policy.Limit, partition string) string {
	if v, ok := p.rateLimitPolicies[bucket]; ok {
		return v
	}
	if p.rateLimitPolicies == nil || len(p.rateLimitPolicies) >= maxCachedPolicies {
		p.rateLimitPolicies = make(map[string]string, 64)
	}
	v := l.PolicyHeader(partition)
	p.rateLimitPolicies[bucket] = v
	return v
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{plugin: p}
}

// httpContext handles one request: it asks the policy and applies the answer.
type httpContext struct {
	types.DefaultHttpContext
	plugin *pluginContext

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

	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		p.metrics.internalErrors.Increment(1)
		proxywasm.LogErrorf("apiguard: reading request headers: %v", err)
		sendInternalError()
		return types.ActionPause
	}
	hl := policy.HeaderList(headers)
	method, _ := hl.Get(":method")
	path, _ := hl.Get(":path")
	now := requestTime()
	ip := clientIP()
	d := p.policy.Decide(policy.Request{
		Method:   method,
		Path:     path,
		Headers:  hl,
		ClientIP: ip,
		Now:      now,
	})
	if !p.policy.KeysLoaded() {
		d = policy.KeyStoreUnavailable(d, p.keyStore.retryAfter())
	}

	if d.Allow && d.RateLimit.Limit != nil {
		res, ok := p.limiter.take(d.RateLimit.BucketKey, d.RateLimit.Limit, now)
		h.tokens = counted(res, ok)
		if !ok || !res.Allowed {
			d = policy.RateLimited(d, res)
		} else {
			h.limit, h.limitRes, h.partition, h.bucket = d.RateLimit.Limit, res, d.RateLimit.PartitionKey, d.RateLimit.BucketKey
		}
	}
	p.metrics.decision(d.Reason)
	publishDecision(d, p.policy.Shadow(), h.tokens)

	if p.policy.Shadow() {
		if !d.Allow {
			p.metrics.shadowWouldDeny.Increment(1)
			logDecision("shadow_deny", d, method, path, hl, now, ip)
		} else if p.policy.LogAllowed() {
			logDecision("allow", d, method, path, hl, now, ip)
		}
		h.limit = nil
		if !p.applyShadow(d, hl, now) {
			sendInternalError()
			return types.ActionPause
		}
		// Shadow mode sets no quota header, so the global rate-limit filter
		// counts nothing; a client-supplied one must not make it count.
		removeQuotaHeader(p.policy.QuotaHeader(), hl)
		return types.ActionContinue
	}
	if !d.Allow {
		logDecision("deny", d, method, path, hl, now, ip)
		sendDenial(d)
		return types.ActionPause
	}
	applyAllow(d, hl)
	if !p.setIdentityToken(&d, now) {
		sendInternalError()
		return types.ActionPause
	}
	if err := applyQuota(d, p.policy.QuotaHeader(), hl); err != nil {
		// Without its quota header the request would not be counted
		// against the quota: fail it closed.
		p.metrics.internalErrors.Increment(1)
		proxywasm.LogErrorf("apiguard: setting header %q: %v", p.policy.QuotaHeader(), err)
		sendInternalError()
		return types.ActionPause
	}
	if p.policy.LogAllowed() {
		logDecision("allow", d, method, path, hl, now, ip)
	}
	h.startSeal(d, now)
	return types.ActionContinue
}

// applyAllow rewrites the request on its way upstream: the credential and any
// client-supplied identity headers go, the identity headers are set, and the
// path is replaced when the credential parameter was removed or pagination
// was clamped or defaulted. Headers the request does not carry are not
// removed: each removal is a host call.
func applyAllow(d policy.Decision, request policy.HeaderList) {
	removeHeaders(d.Upstream.RemoveHeaders, request)
	setIdentity(d)
	if d.Upstream.NewPath != "" {
		if err := proxywasm.ReplaceHttpRequestHeader(":path", d.Upstream.NewPath); err != nil {
			proxywasm.LogErrorf("apiguard: rewriting :path: %v", err)
		}
	}
}

// applyShadow is what shadow mode changes: client-supplied identity headers
// (and identity tokens) go whatever the decision, and the identity headers
// and token are set when the decision is allow. The credential and the
// path stay as sent, so that an upstream that still checks keys keeps
// working. It reports false when the token could not be minted.
func (p *pluginContext) applyShadow(d policy.Decision, request policy.HeaderList, now time.Time) bool {
	removeHeaders(p.untrusted, request)
	if d.Allow {
		setIdentity(d)
		return p.setIdentityToken(&d, now)
	}
	return true
}

// removeHeaders removes every request header that names one of names under
// any spelling a back end reads as the same (policy.SameHeaderName): one
// removal per value the request carries. Envoy's removal takes every value
// of a name, so a repeated header costs a removal that finds nothing; the
// SDK's emulator takes one value per call, and a host that does the same
// still loses every copy.
func removeHeaders(names []string, request policy.HeaderList) {
	for _, h := range request {
		for _, name := range names {
			if !policy.SameHeaderName(h[0], name) {
				continue
			}
			if err := proxywasm.RemoveHttpRequestHeader(h[0]); err != nil {
				proxywasm.LogErrorf("apiguard: removing header %q: %v", h[0], err)
			}
			break
		}
	}
}

// setIdentity sets the identity headers of an allowed decision.
func setIdentity(d policy.Decision) {
	for _, kv := range d.Upstream.SetHeaders {
		if kv[0] == "" {
			continue // no consumer identified (a public route)
		}
		if err := proxywasm.ReplaceHttpRequestHeader(kv[0], kv[1]); err != nil {
			proxywasm.LogErrorf("apiguard: setting header %q: %v", kv[0], err)
		}
	}
}

// applyQuota sets the quota header of an allowed request for Envoy's global
// rate-limit filter (its rate_limits actions read it with the consumer
// header), after removing any client-supplied one under every spelling.
// An error means the header could not be set.
func applyQuota(d policy.Decision, name string, request policy.HeaderList) error {
	removeQuotaHeader(name, request)
	if d.RateLimit.Quota == nil {
		return nil
	}
	return proxywasm.ReplaceHttpRequestHeader(name, d.RateLimit.Quota.Name)
}

// removeQuotaHeader removes the quota header under every spelling a back
// end (or Envoy's rate-limit descriptors, after a normalising hop) could
// read as the same name, when the request carries it.
func removeQuotaHeader(name string, request policy.HeaderList) {
	names := [1]string{name}
	removeHeaders(names[:], request)
}

func (h *httpContext) OnHttpResponseHeaders(_ int, endOfStream bool) types.Action {
	if h.sealing != nil {
		h.sealResponseHeaders(endOfStream)
	}
	if h.limit != nil {
		p := h.plugin
		_ = proxywasm.ReplaceHttpResponseHeader("ratelimit-policy", p.rateLimitPolicy(h.bucket, h.limit, h.partition))
		p.header = h.limit.AppendHeader(p.header[:0], h.limitRes, h.partition)
		_ = proxywasm.ReplaceHttpResponseHeader("ratelimit", hostCopied(p.header))
	}
	return types.ActionContinue
}
