package main

import (
	"encoding/binary"
	"runtime"
	"strings"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/policy"
)

// vmContext is the per-VM root. Envoy runs one VM per worker thread.
type vmContext struct {
	types.DefaultVMContext
}

func newVMContext() types.VMContext { return &vmContext{} }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

// pluginContext holds one compiled configuration; it is immutable after
// OnPluginStart, and every request of the VM reads it.
type pluginContext struct {
	types.DefaultPluginContext
	policy  *policy.Policy
	metrics *metrics
	limiter limiter
	// keyStore is set when the keys come from a key store (keystore.go);
	// policy is then swapped for one with a snapshot's keys.
	keyStore *keyStore
}

// OnPluginStart compiles the configuration. Any error fails the start, so
// Envoy refuses the filter (fail closed); each problem is logged on its own
// line with its JSON path.
func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	p.metrics = newMetrics()
	p.limiter = limiter{store: hostStore{}, metrics: p.metrics}
	cfg, err := proxywasm.GetPluginConfiguration()
	if err != nil && err != types.ErrorStatusNotFound {
		p.metrics.configErrors.Increment(1)
		proxywasm.LogCriticalf("apiguard: reading the plugin configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	pol, err := policy.Compile(cfg)
	if err != nil {
		logConfigError(p.metrics, err)
		return types.OnPluginStartStatusFailed
	}
	p.policy = pol
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
	proxywasm.LogInfof("apiguard: configuration loaded (mode %s, %d rate-limit buckets, %d new)", mode, total, created)
	if pol.KeyStore() != nil {
		p.keyStore = newKeyStore(pol)
		p.keyStore.start(p)
	}
	return types.OnPluginStartStatusOK
}

// OnTick drives the key store: fetches, and loads spread over ticks.
func (p *pluginContext) OnTick() {
	defer func() {
		if r := recover(); r != nil {
			p.metrics.internalErrors.Increment(1)
			proxywasm.LogCriticalf("apiguard: internal error in the key store: %v", r)
			if ks := p.keyStore; ks != nil {
				ks.loader, ks.parts, ks.inFlight = nil, nil, false
				if ks.fastTicks {
					ks.setLoadTicking(false)
				}
			}
		}
	}()
	if p.keyStore != nil {
		p.keyStore.tick(p)
	}
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

	// headers holds the request headers while Decide reads them: passing
	// &headers as the Request's HeaderGetter boxes a pointer into this
	// context instead of allocating a copy of the slice header per request.
	headers policy.HeaderList
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
	h.headers = hl
	d := p.policy.Decide(policy.Request{
		Method:   method,
		Path:     path,
		Headers:  &h.headers,
		ClientIP: ip,
		Now:      now,
	})
	h.headers = nil
	if !p.policy.KeysLoaded() {
		d = policy.KeyStoreUnavailable(d, p.keyStore.retryAfter())
	}

	if d.Allow && d.Limit != nil {
		res, ok := p.limiter.take(d.BucketKey, d.Limit, now)
		if !ok || !res.Allowed {
			d = policy.RateLimited(d, res)
		} else {
			h.limit, h.limitRes, h.partition = d.Limit, res, d.PartitionKey
		}
	}
	p.metrics.decision(d.Reason)

	if p.policy.Shadow() {
		if !d.Allow {
			p.metrics.shadowWouldDeny.Increment(1)
			logDecision("shadow_deny", d, method, path, hl, now, ip)
		} else if p.policy.LogAllowed() {
			logDecision("allow", d, method, path, hl, now, ip)
		}
		h.limit = nil
		return types.ActionContinue
	}
	if !d.Allow {
		logDecision("deny", d, method, path, hl, now, ip)
		sendDenial(d)
		return types.ActionPause
	}
	applyAllow(d, hl)
	if p.policy.LogAllowed() {
		logDecision("allow", d, method, path, hl, now, ip)
	}
	return types.ActionContinue
}

// applyAllow rewrites the request on its way upstream: the credential and any
// client-supplied identity headers go, the identity headers are set, and the
// path is replaced when the credential parameter was removed or pagination
// was clamped or defaulted. Headers the request does not carry are not
// removed: each removal is a host call.
func applyAllow(d policy.Decision, request policy.HeaderList) {
	for _, name := range d.RemoveHeaders {
		if _, n := request.Get(name); n == 0 {
			continue
		}
		if err := proxywasm.RemoveHttpRequestHeader(name); err != nil {
			proxywasm.LogErrorf("apiguard: removing header %q: %v", name, err)
		}
	}
	for _, kv := range d.SetHeaders {
		if kv[0] == "" {
			continue // no consumer identified (a public route)
		}
		if err := proxywasm.ReplaceHttpRequestHeader(kv[0], kv[1]); err != nil {
			proxywasm.LogErrorf("apiguard: setting header %q: %v", kv[0], err)
		}
	}
	if d.NewPath != "" {
		if err := proxywasm.ReplaceHttpRequestHeader(":path", d.NewPath); err != nil {
			proxywasm.LogErrorf("apiguard: rewriting :path: %v", err)
		}
	}
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	if h.limit != nil {
		_ = proxywasm.ReplaceHttpResponseHeader("ratelimit-policy", h.limit.PolicyHeader(h.partition))
		_ = proxywasm.ReplaceHttpResponseHeader("ratelimit", h.limit.Header(h.limitRes, h.partition))
	}
	return types.ActionContinue
}

// requestTime is when Envoy received the request (the request.time property,
// int64 nanoseconds since the epoch in host byte order, little-endian on
// every platform Envoy supports), falling back to the VM's clock.
func requestTime() time.Time {
	if b, err := proxywasm.GetProperty([]string{"request", "time"}); err == nil && len(b) == 8 {
		return time.Unix(0, int64(binary.LittleEndian.Uint64(b)))
	}
	return time.Now()
}

// clientIP is the downstream peer's IP without the port (source.address is
// "ip:port", or "[v6]:port").
func clientIP() string {
	b, err := proxywasm.GetProperty([]string{"source", "address"})
	if err != nil || len(b) == 0 {
		return ""
	}
	addr := string(b)
	if strings.HasPrefix(addr, "[") {
		if i := strings.IndexByte(addr, ']'); i > 0 {
			return addr[1:i]
		}
		return ""
	}
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && strings.IndexByte(addr, ':') == i {
		return addr[:i]
	}
	return addr
}
