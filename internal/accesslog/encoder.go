package accesslog

import (
	"time"
	"unsafe"

	"github.com/apiguard/apiguard/policy"
)

// Encoder writes Records exactly as Record.AppendJSON does, keeping what
// repeats from line to line: the run of fields from "decision" to
// "method", which is the same for every denial of one route for one
// reason; the fields from "path" to "client_ip" of the line before, which
// a client that repeats a request repeats; and the date and time to the
// second. In the filter's module each field written costs more than the
// comparisons that replace it: writing a denial's line took about a sixth
// of the denial there, several times what the same code takes on its own
// (docs/performance.md). An Encoder is not safe for concurrent use; its
// zero value is ready.
type Encoder struct {
	heads [16]*head
	tail  *tail
	// sec is the Unix second whose text (UTC, "2006-01-02T15:04:05")
	// secText holds; secText is empty until the first line.
	sec     int64
	secText []byte
}

// tail is the text of a line's fields from path to the name of
// request_id, and the strings it was written from (views of text's
// buffer, as a head's are).
type tail struct {
	path, consumer, keyID, clientIP string
	text                            []byte
}

// head is the text of a line's fields from decision to method, and what
// it was written from. The strings are views of text, so that a head keeps
// no request's memory alive; text is never written again.
type head struct {
	decision      policy.Outcome
	status        int
	reason        policy.Reason
	route, method string
	text          []byte
}

// AppendJSON appends r's line (without a newline) to b, as r.AppendJSON
// would. It allocates nothing when b has room (Record.Size) and the head
// of the line was written before.
func (e *Encoder) AppendJSON(b []byte, r *Record) []byte {
	b = append(b, `{"time":"`...)
	b = e.appendTime(b, r.Time)
	b = append(b, e.headOf(r).text...)
	b = append(b, e.tailOf(r).text...)
	b = AppendString(b, r.RequestID)
	return append(b, '}')
}

// appendTime appends t as appendTime does, the date and time to the
// second from secText when t falls in its second.
func (e *Encoder) appendTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec != e.sec || len(e.secText) == 0 {
		text := appendTime(e.secText[:0], t.Truncate(time.Second))
		if len(text) != len("2006-01-02T15:04:05Z") {
			// A year RFC 3339 cannot write in four digits: nothing kept.
			e.secText = text[:0]
			return appendTime(b, t)
		}
		e.sec, e.secText = sec, text[:len(text)-1]
	}
	b = append(b, e.secText...)
	return appendFraction(b, t.Nanosecond())
}

// tailOf returns the tail of r's line: the one kept when r's path (without
// its query), consumer, key id and client address are the last line's,
// or written anew.
func (e *Encoder) tailOf(r *Record) *tail {
	path := pathOf(r.Path)
	if t := e.tail; t != nil && t.path == path && t.clientIP == r.ClientIP && t.keyID == r.KeyID && t.consumer == r.Consumer {
		return t
	}
	n := 64 + 2*(len(path)+len(r.Consumer)+len(r.KeyID)+len(r.ClientIP))
	b := make([]byte, 0, n+len(path)+len(r.Consumer)+len(r.KeyID)+len(r.ClientIP))
	b = appendTailFields(b, path, r)
	t := &tail{text: b[:len(b):len(b)]}
	b, t.path = AppendView(b, path)
	b, t.consumer = AppendView(b, r.Consumer)
	b, t.keyID = AppendView(b, r.KeyID)
	_, t.clientIP = AppendView(b, r.ClientIP)
	e.tail = t
	return t
}

// headOf returns the head of r's line, kept or written anew.
func (e *Encoder) headOf(r *Record) *head {
	slot := &e.heads[(uint(r.Status)^uint(r.Decision)<<4^uint(len(r.Route))<<1^uint(len(r.Reason))<<3^uint(len(r.Method)))%uint(len(e.heads))]
	if h := *slot; h != nil && h.status == r.Status && h.decision == r.Decision && h.reason == r.Reason &&
		h.route == r.Route && h.method == r.Method {
		return h
	}
	h := newHead(r)
	*slot = h
	return h
}

// newHead writes the head of r's line, followed by copies of its route,
// method and reason for the comparisons, into one buffer.
func newHead(r *Record) *head {
	n := 64 + 2*(len(r.Reason)+len(r.Route)+len(r.Method))
	t := make([]byte, 0, n+len(r.Reason)+len(r.Route)+len(r.Method))
	t = appendHead(t, r)
	h := &head{decision: r.Decision, status: r.Status, text: t[:len(t):len(t)]}
	var reason string
	t, reason = AppendView(t, string(r.Reason))
	h.reason = policy.Reason(reason)
	t, h.route = AppendView(t, r.Route)
	_, h.method = AppendView(t, r.Method)
	return h
}

// AppendView appends s to b and returns it as a view of b's memory, for a
// value kept beside text in one buffer that is never written again (b is
// sized to have room, so that the buffer stays one).
func AppendView(b []byte, s string) ([]byte, string) {
	n := len(b)
	b = append(b, s...)
	return b, unsafe.String(unsafe.SliceData(b[n:]), len(s))
}
