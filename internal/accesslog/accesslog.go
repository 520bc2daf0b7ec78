// Package accesslog is the filter's decision log line: one JSON object per
// denied request (and per allowed one with log_allowed), written through
// the proxy's log (docs/operations.md, "Logs"). The filter encodes a Record
// with AppendJSON; apiguard replay reads the line back with Parse. The
// shape is a contract with log pipelines: the fields, their order and
// their spelling stay.
//
//	{"time":"2026-06-01T12:00:00Z","decision":"deny","reason":"unknown","status":401,"route":"list-orders","method":"GET","path":"/v1/orders","consumer":"","key_id":"","client_ip":"192.0.2.7","request_id":"5c1e…"}
package accesslog

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/policy"
)

// Record is one decision log line. Every field is written, empty or not.
type Record struct {
	// Time is when the request was judged (Envoy's request.time when
	// available), written in UTC with RFC 3339 and nanoseconds.
	Time time.Time `json:"time"`
	// Decision is what the filter did.
	Decision policy.Outcome `json:"decision"`
	// Reason is the decision's reason, or policy.ReasonInternalError.
	Reason policy.Reason `json:"reason"`
	// Status is the status answered, or that shadow mode would have.
	Status int    `json:"status"`
	Route  string `json:"route"`
	Method string `json:"method"`
	// Path is the request's :path. AppendJSON writes it without its query
	// string, where a key may travel: the key is never logged.
	Path string `json:"path"`
	// Consumer and KeyID identify the key presented when it was found
	// (also on revoked, expired and other denials of a known key); never
	// the key.
	Consumer  string `json:"consumer"`
	KeyID     string `json:"key_id"`
	ClientIP  string `json:"client_ip"`
	RequestID string `json:"request_id"`
}

// fixedSize bounds what AppendJSON writes besides the strings' bytes: the
// names, quotes and punctuation (under 140 bytes), the time (at most 30), the
// decision (at most 11) and a three-digit status.
const fixedSize = 192

// Size is a capacity for AppendJSON that fits the line unless its strings
// need escaping.
func (r *Record) Size() int {
	return fixedSize + len(r.Route) + len(r.Method) + len(r.Path) + len(r.Consumer) + len(r.KeyID) +
		len(r.ClientIP) + len(r.RequestID) + len(r.Reason)
}

// AppendJSON appends the line (without a newline) to b. It allocates
// nothing when b has room for it (Size).
func (r *Record) AppendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = appendTime(b, r.Time) // digits, letters and punctuation only
	return appendTail(appendHead(b, r), r)
}

// appendHead appends the fields of r from decision to method, after the
// time's text (which it closes).
func appendHead(b []byte, r *Record) []byte {
	b = append(b, `","decision":"`...)
	b = append(b, r.Decision.String()...) // a word of [a-z_]
	b = append(b, '"')
	b = appendField(b, `,"reason":`, string(r.Reason))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = appendField(b, `,"route":`, r.Route)
	return appendField(b, `,"method":`, r.Method)
}

// appendTail appends the fields of r from path on, and closes the object.
func appendTail(b []byte, r *Record) []byte {
	b = AppendString(appendTailFields(b, pathOf(r.Path), r), r.RequestID)
	return append(b, '}')
}

// pathOf is path without its query string, where a key may travel.
func pathOf(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return path[:i]
	}
	return path
}

// appendTailFields appends the fields from path (given without its query)
// to client_ip, and the name of request_id.
func appendTailFields(b []byte, path string, r *Record) []byte {
	b = appendField(b, `,"path":`, path)
	b = appendField(b, `,"consumer":`, r.Consumer)
	b = appendField(b, `,"key_id":`, r.KeyID)
	b = appendField(b, `,"client_ip":`, r.ClientIP)
	return append(b, `,"request_id":`...)
}

func appendField(b []byte, prefix, value string) []byte {
	return AppendString(append(b, prefix...), value)
}

// ErrNotARecord is Parse's error for a JSON object without a decision.
var ErrNotARecord = errors.New("accesslog: not a decision log line (no decision)")

// Parse reads a line AppendJSON wrote. A line that is not JSON, or has a
// decision that names no outcome, is an error; so is one without a
// decision (ErrNotARecord), such as another JSON line of the proxy's log.
func Parse(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return Record{}, err
	}
	if r.Decision == 0 {
		return Record{}, ErrNotARecord
	}
	return r, nil
}
