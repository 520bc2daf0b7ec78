package accesslog

import (
	"unsafe"

	"github.com/apiguard/apiguard/policy"
)

// Encoder writes Records exactly as Record.AppendJSON does, keeping what
// repeats from line to line: the run of fields from "decision" to
// "method", which is the same for every denial of one route for one
// reason. In the filter's module each field written costs more than the
// comparisons that replace it. (Keeping the time's text per second too
// measured within the noise.) An Encoder is not safe for concurrent use;
// its zero value is ready.
type Encoder struct {
	heads [16]*head
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
	b = appendTime(b, r.Time)
	b = append(b, e.headOf(r).text...)
	return appendTail(b, r)
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
