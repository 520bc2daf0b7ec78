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
// The line gets memory of its own rather than a reused buffer: proxy_log
// hands the host a view of it, and the SDK's emulator keeps that view as
// the logged string (proxywasm/proxytest/root.go, ProxyLog, at v0.24.0),
// so a reused buffer would rewrite the lines tests and apiguard replay
// read. Envoy copies the line. That memory is carved from a chunk
// (logMemory) rather than allocated per line: a heap allocation of a
// line's size costs a denial more in the module than writing the line.
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

// logChunk is the size of the chunks log lines are carved from: a few
// hundred lines each.
const logChunk = 64 << 10

// logArena is the chunk log lines are written into: lines up to its
// length, never written again; the rest is free. When a line does not fit,
// a new chunk replaces it, and the old one lives as long as views of its
// lines do.
var logArena []byte

// logMemory returns empty memory with room for size bytes that no line
// used before.
func logMemory(size int) []byte {
	if size > logChunk/8 {
		return make([]byte, 0, size)
	}
	if cap(logArena)-len(logArena) < size {
		logArena = make([]byte, 0, logChunk)
	}
	n := len(logArena)
	return logArena[n:n:cap(logArena)]
}

// logUsed marks line, written into logMemory's memory, as used when it
// is in the chunk (a line that outgrew its room was moved elsewhere).
func logUsed(line []byte) {
	n := len(logArena)
	if len(line) > 0 && n+len(line) <= cap(logArena) && unsafe.SliceData(line) == unsafe.SliceData(logArena[n:n+1]) {
		logArena = logArena[:n+len(line)]
	}
}
