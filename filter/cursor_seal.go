package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/policy"
)

// Sealed cursors, the response side (the request side is policy's: Decide
// opens a sealed cursor and forwards the back end's). On an allowed request
// (enforce mode) to a route whose profile seals cursors, the filter seals
// the cursors of a 2xx response: in the Link header when the headers pass,
// and in the JSON body, which it buffers to its end.
//
// Envoy does not let a Wasm filter hold the response headers while it reads
// the body: proxy-wasm-cpp-host turns a paused response-headers callback
// into StopAllIterationAndWatermark, which withholds the body from the
// filter too (ContextBase::convertVmCallResultToFilterHeadersStatus in
// proxy-wasm-cpp-host src/context.cc, the same at 3930b7b and 94091cd, the
// commits cpphost's profiles model; the knob allow_on_headers_stop_iteration
// came with #434, 7a212bc, and is off by default). So the headers
// continue at once, without Content-Length (the body changes length: the
// codec frames it, chunked or HTTP/2), and the body is buffered by pausing
// each body callback until the end of the stream (Envoy then hands the
// whole buffered body to the filter: Context::encodeData, which adds each
// chunk to the encoding buffer while the filter buffers, and getBuffer, in
// envoyproxy/envoy source/extensions/common/wasm/context.cc at b40935a).
//
// A response that cannot be sealed never reaches the client with its
// cursors. When that is known from the headers (a content type other than
// JSON, a Content-Length over max_body) the status becomes 502 with a
// problem document typed cursor_seal_failed and the body is replaced; when
// only the body tells (not JSON, a field that is not a string, larger than
// max_body without a Content-Length), the status has already gone, and the
// body alone is replaced by the same problem document. Either way it is
// counted (apiguard.cursor.seal_failed) and logged.

// sealState is what an HTTP context remembers to seal its response.
type sealState struct {
	seal            *policy.CursorSeal
	route, consumer string
	now             time.Time
	// buffering: the body is being buffered to be sealed; failed: the
	// problem document replaces the body (problemSent once it went out).
	buffering, failed, problemSent bool
}

// sealMetrics are the sealed-cursor counters, defined only when some
// profile seals cursors.
type sealMetrics struct {
	sealed, failed proxywasm.MetricCounter
}

// bindCursorKeys defines the counters when cursors are sealed. The keys
// of key_env and previous_key_env were read from the VM environment
// (Envoy's vm_config.environment_variables reach the module as its WASI
// environment) by policy.CompileWith, whose errors fail the plugin start.
func (p *pluginContext) bindCursorKeys(pol *policy.Policy) error {
	if len(pol.CursorSeals()) == 0 {
		return nil
	}
	p.seals = &sealMetrics{
		sealed: proxywasm.DefineCounterMetric(metricname.CursorSealed),
		failed: proxywasm.DefineCounterMetric(metricname.CursorSealFailed),
	}
	return nil
}

// startSeal remembers an allowed decision whose response is to be sealed.
func (h *httpContext) startSeal(d *policy.Decision, now time.Time) {
	if d.CursorSeal == nil || h.plugin.seals == nil {
		return
	}
	h.sealing = &sealState{seal: d.CursorSeal, route: d.Route, consumer: d.Identity.Consumer, now: now}
}

// cursorSealProblem is the body of a response that could not be sealed.
var cursorSealProblem = appendProblem(nil, "https://apiguard.dev/problems/cursor_seal_failed", "Cursor seal failed", 502,
	"the API's response could not be passed on safely")

// sealResponseHeaders seals the Link header of a 2xx response and starts
// buffering its body when fields are to be sealed.
func (h *httpContext) sealResponseHeaders(endOfStream bool) {
	s := h.sealing
	status, _ := proxywasm.GetHttpResponseHeader(":status")
	if len(status) != 3 || status[0] != '2' {
		h.sealing = nil // nothing of a 4xx or 5xx is sealed: no cursors there
		return
	}
	if s.seal.SealsLink() {
		if link, err := proxywasm.GetHttpResponseHeader("link"); err == nil && link != "" {
			sealedLink, _, err := s.seal.SealLink(link, s.route, s.consumer, s.now)
			if err != nil {
				h.failSeal(err.Error(), true, endOfStream)
				return
			}
			if err := proxywasm.ReplaceHttpResponseHeader("link", sealedLink); err != nil {
				h.failSeal("replacing the Link header: "+err.Error(), true, endOfStream)
				return
			}
		}
	}
	if !s.seal.SealsBody() || endOfStream {
		h.sealed()
		return
	}
	if ct, _ := proxywasm.GetHttpResponseHeader("content-type"); !isJSON(ct) {
		h.failSeal("the response's content type "+strconv.Quote(ct)+" is not JSON", true, endOfStream)
		return
	}
	if cl, err := proxywasm.GetHttpResponseHeader("content-length"); err == nil {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n > int64(s.seal.MaxBody()) {
			h.failSeal("the response body ("+cl+" bytes) is larger than max_body", true, endOfStream)
			return
		}
		_ = proxywasm.RemoveHttpResponseHeader("content-length")
	}
	s.buffering = true
}

// sealed counts a response sealed.
func (h *httpContext) sealed() {
	h.plugin.seals.sealed.Increment(1)
	h.sealing = nil
}

// failSeal records a response that cannot be sealed. While the headers are
// still the filter's (inHeaders), they become a 502 problem response; its
// body is sent by the body callbacks, or now when there is none.
func (h *httpContext) failSeal(why string, inHeaders, endOfStream bool) {
	s := h.sealing
	s.failed, s.buffering = true, false
	h.plugin.seals.failed.Increment(1)
	proxywasm.LogErrorf("apiguard: cursor_seal_failed: route %s, consumer %q: %s; the client gets a problem document instead",
		s.route, s.consumer, why)
	if !inHeaders {
		return
	}
	_ = proxywasm.ReplaceHttpResponseHeader(":status", "502")
	_ = proxywasm.ReplaceHttpResponseHeader("content-type", problemContentType)
	_ = proxywasm.ReplaceHttpResponseHeader("cache-control", "no-store")
	_ = proxywasm.RemoveHttpResponseHeader("link")
	if endOfStream {
		// No body follows to carry the problem: say so with no body.
		_ = proxywasm.ReplaceHttpResponseHeader("content-length", "0")
		return
	}
	_ = proxywasm.ReplaceHttpResponseHeader("content-length", strconv.Itoa(len(cursorSealProblem)))
}

// OnHttpResponseBody buffers the body of a response being sealed, and
// seals it at the end of the stream.
func (h *httpContext) OnHttpResponseBody(bodySize int, endOfStream bool) (action types.Action) {
	s := h.sealing
	if s == nil {
		return types.ActionContinue
	}
	defer func() {
		if r := recover(); r != nil {
			h.plugin.metrics.internalErrors.Increment(1)
			proxywasm.LogCriticalf("apiguard: internal error sealing a response: %v", r)
			if !s.failed {
				h.failSeal("internal error", false, endOfStream)
			}
			action = h.sendProblemBody(bodySize)
		}
	}()
	if s.failed {
		return h.sendProblemBody(bodySize)
	}
	if !s.buffering {
		return types.ActionContinue
	}
	if bodySize > s.seal.MaxBody() {
		h.failSeal("the response body is larger than max_body ("+strconv.Itoa(s.seal.MaxBody())+" bytes)", false, endOfStream)
		return h.sendProblemBody(bodySize)
	}
	if !endOfStream {
		return types.ActionPause // Envoy buffers and calls again with the whole body
	}
	body, err := proxywasm.GetHttpResponseBody(0, bodySize)
	if err != nil && bodySize > 0 {
		h.failSeal("reading the response body: "+err.Error(), false, endOfStream)
		return h.sendProblemBody(bodySize)
	}
	out, _, err := s.seal.SealBody(body, s.route, s.consumer, s.now)
	if err != nil {
		h.failSeal(err.Error(), false, endOfStream)
		return h.sendProblemBody(bodySize)
	}
	if err := proxywasm.ReplaceHttpResponseBody(out); err != nil {
		h.failSeal("replacing the response body: "+err.Error(), false, endOfStream)
		return h.sendProblemBody(bodySize)
	}
	h.sealed()
	return types.ActionContinue
}

// sendProblemBody replaces what the body callback holds: with the problem
// document the first time, with nothing after.
func (h *httpContext) sendProblemBody(bodySize int) types.Action {
	s := h.sealing
	var data []byte
	if !s.problemSent {
		data, s.problemSent = cursorSealProblem, true
	}
	if err := proxywasm.ReplaceHttpResponseBody(data); err != nil {
		proxywasm.LogErrorf("apiguard: cursor_seal_failed: replacing the body (%d bytes): %v", bodySize, err)
	}
	return types.ActionContinue
}

// isJSON reports whether a content type is JSON: application/json or any
// type with a +json suffix, parameters aside.
func isJSON(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}
