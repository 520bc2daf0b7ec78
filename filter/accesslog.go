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
// The line is written into logMemory's memory. In the module that is one
// buffer, written again by the next line: proxy_log hands the host a view
// of it, and the host has written the line out (Envoy) or copied it
// (cpphost; the emulator driver, internal/driver) by the time the next
// callback runs, so a denial allocates nothing. Natively the SDK's
// emulator keeps the very string it is given as the logged line
// (proxywasm/proxytest/root.go, ProxyLog, at v0.24.0), so there every line
// gets memory of its own, carved from a chunk (accesslog_mem_other.go).
func logDecision(o policy.Outcome, d *policy.Decision, method, path string, headers policy.HeaderList, now time.Time, clientIP string) {
	requestID, _ := headers.Get("x-request-id")
	r := accesslog.Record{
		Time: now, Decision: o, Reason: d.Reason, Status: d.Status, Route: d.Route, Method: method, Path: path,
		Consumer: d.Identity.Consumer, KeyID: d.Identity.KeyID, ClientIP: clientIP, RequestID: requestID,
	}
	b := lineEncoder.AppendJSON(logMemory(r.Size()), &r)
	logUsed(b)
	// The line is never changed after this: a string sharing its memory
	// spares a copy.
	line := unsafe.String(unsafe.SliceData(b), len(b))
	if o == policy.OutcomeAllow {
		proxywasm.LogInfo(line)
	} else {
		proxywasm.LogWarn(line)
	}
}

// lineEncoder writes the decision log lines, keeping what repeats between
// them (a VM runs one callback at a time).
var lineEncoder accesslog.Encoder
