package main

import (
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/policy"
)

// logDecision writes one JSON line for a decision: denials always, allowed
// requests when the configuration asks (log_allowed). It carries the path
// without its query string and never the presented key.
func logDecision(outcome string, d policy.Decision, method, path string, headers policy.HeaderList, now time.Time, clientIP string) {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	requestID, _ := headers.Get("x-request-id")
	b := make([]byte, 0, 256+len(path)+len(d.Route)+len(d.Identity.Consumer)+len(d.Identity.KeyID)+len(requestID))
	b = append(b, `{"time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano) // digits, letters and punctuation only
	b = append(b, '"')
	b = appendField(b, "decision", outcome)
	b = appendField(b, "reason", string(d.Reason))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(d.Status), 10)
	b = appendField(b, "route", d.Route)
	b = appendField(b, "method", method)
	b = appendField(b, "path", path)
	b = appendField(b, "consumer", d.Identity.Consumer)
	b = appendField(b, "key_id", d.Identity.KeyID)
	b = appendField(b, "client_ip", clientIP)
	b = appendField(b, "request_id", requestID)
	b = append(b, '}')
	// The line is never changed after this: a string sharing its memory
	// spares a copy.
	line := unsafe.String(unsafe.SliceData(b), len(b))
	if outcome == "allow" {
		proxywasm.LogInfo(line)
	} else {
		proxywasm.LogWarn(line)
	}
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}
