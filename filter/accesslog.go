package main

import (
	"time"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/internal/accesslog"
	"github.com/apiguard/apiguard/policy"
)

// logDecision writes the decision log line (internal/accesslog) of a
// request judged d with outcome o: denials always, allowed requests when
// the configuration asks (log_allowed). It carries the path without its
// query string and never the presented key.
//
// The line gets a buffer of its own rather than a reused one: proxy_log
// hands the host a view of it, and the SDK's emulator keeps that view as
// the logged string (proxywasm/proxytest/root.go, ProxyLog, at v0.24.0),
// so a reused buffer would rewrite the lines tests and apiguard replay
// read. Envoy copies the line.
func logDecision(o policy.Outcome, d *policy.Decision, method, path string, headers policy.HeaderList, now time.Time, clientIP string) {
	requestID, _ := headers.Get("x-request-id")
	r := accesslog.Record{
		Time: now, Decision: o, Reason: d.Reason, Status: d.Status, Route: d.Route, Method: method, Path: path,
		Consumer: d.Identity.Consumer, KeyID: d.Identity.KeyID, ClientIP: clientIP, RequestID: requestID,
	}
	b := r.AppendJSON(make([]byte, 0, r.Size()))
	// The line is never changed after this: a string sharing its memory
	// spares a copy.
	line := unsafe.String(unsafe.SliceData(b), len(b))
	if o == policy.OutcomeAllow {
		proxywasm.LogInfo(line)
	} else {
		proxywasm.LogWarn(line)
	}
}
