package main

import (
	"encoding/binary"
	"strconv"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/internal/accesslog"
	"github.com/apiguard/apiguard/policy"
)

const problemContentType = "application/problem+json"

// denialHeaders are the headers of every denial, before the decision's own.
var denialHeaders = [...][2]string{{"content-type", problemContentType}, {"cache-control", "no-store"}}

// sendDenial answers the request locally with the decision's status and an
// RFC 9457 problem document. The decision never carries the presented key,
// so neither does the body.
//
// The reply (its serialized headers and its body) is the same for every
// denial with the same status, problem fields and headers, which most
// denials share (a 401's detail and WWW-Authenticate are constants, a 403's
// repeat per route and consumer): replyFor keeps the recent ones, so that a
// repeated denial neither formats nor allocates.
func sendDenial(d *policy.Decision) {
	r := replyFor(d)
	if err := sendLocal(uint32(d.Status), r.headers, r.body); err != nil {
		proxywasm.LogErrorf("apiguard: sending %d: %v", d.Status, err)
	}
}

// reply is a denial's serialized headers and body, in one buffer of its
// own that is never written again once built (the SDK's emulator keeps
// views of what a local response was given), and the problem it was last
// found for (src, srcReason): the policy's own strings and header slice,
// so that a denial made of the very same ones (a 401's constants, a 403's
// per route and consumer, a 429's per bucket and second) is found by
// comparing pointers. The policy never writes them again, so the same
// pointer and length is the same text. setPolicy empties replies, so that
// they keep no policy served before alive.
type reply struct {
	status        int
	headers, body []byte
	src           policy.Problem
	srcReason     policy.Reason
}

// replies holds the replies of recent denials, by replySlot.
var replies [16]*reply

// forgetReplies empties replies (setPolicy).
func forgetReplies() { replies = [len(replies)]*reply{} }

// replyFor returns the reply of the denial d, from replies or built anew.
func replyFor(d *policy.Decision) *reply {
	slot := &replies[replySlot(d)]
	if r := *slot; r != nil && r.status == d.Status && r.holds(d) {
		return r
	}
	r := buildReply(d)
	*slot = r
	return r
}

// holds reports whether r's problem is d's (its status compared apart):
// the same strings and header slice as its source, or the same text, in
// which case d's become the source.
func (r *reply) holds(d *policy.Decision) bool {
	if r.sameSource(d) {
		return true
	}
	pr, src := &d.Problem, &r.src
	if d.Reason != r.srcReason || pr.Detail != src.Detail || pr.Type != src.Type || pr.Title != src.Title ||
		!mapHolds(r.headers, len(denialHeaders), pr.ResponseHeaders) {
		return false
	}
	r.src, r.srcReason = *pr, d.Reason
	return true
}

// sameSource reports whether d's problem is made of the strings and header
// slice of r's source.
func (r *reply) sameSource(d *policy.Decision) bool {
	pr, src := &d.Problem, &r.src
	return samePointer(string(d.Reason), string(r.srcReason)) && samePointer(pr.Detail, src.Detail) &&
		samePointer(pr.Type, src.Type) && samePointer(pr.Title, src.Title) &&
		len(pr.ResponseHeaders) == len(src.ResponseHeaders) &&
		(len(pr.ResponseHeaders) == 0 || &pr.ResponseHeaders[0] == &src.ResponseHeaders[0])
}

// samePointer reports whether a and b are the same bytes in memory.
func samePointer(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}

// replySlot picks the slot of a denial from its cheap-to-read parts.
func replySlot(d *policy.Decision) int {
	h := uint(d.Status) ^ uint(len(d.Reason))<<3 ^ uint(len(d.Problem.Detail))<<5 ^ uint(len(d.Problem.ResponseHeaders))<<9
	for _, kv := range d.Problem.ResponseHeaders {
		h ^= uint(len(kv[1]))
	}
	return int(h % uint(len(replies)))
}

// buildReply serializes the reply of d into one new buffer, sized once.
func buildReply(d *policy.Decision) *reply {
	pr := &d.Problem
	hsize := headerMapSize(denialHeaders[:]) + headerMapSize(pr.ResponseHeaders) - 4
	b := make([]byte, 0, hsize+64+2*(len(pr.Type)+len(pr.Title)+len(pr.Detail)))
	b = appendHeaderMap(b, denialHeaders[:], pr.ResponseHeaders)
	n := len(b)
	b = appendProblem(b, pr.Type, pr.Title, d.Status, pr.Detail)
	return &reply{status: d.Status, headers: b[:n:n], body: b[n:len(b):len(b)], src: *pr, srcReason: d.Reason}
}

// headerMapSize is the size of pairs serialized as a proxy-wasm header map.
func headerMapSize(pairs [][2]string) int {
	n := 4
	for _, kv := range pairs {
		n += len(kv[0]) + len(kv[1]) + 10
	}
	return n
}

// appendHeaderMap appends the pairs of a and then b serialized as a
// proxy-wasm header map: their count, the size of each name and value,
// then each name and value followed by a NUL byte (the SDK's
// SerializeMap).
func appendHeaderMap(out []byte, a, b [][2]string) []byte {
	out = binary.LittleEndian.AppendUint32(out, uint32(len(a)+len(b)))
	for _, pairs := range [2][][2]string{a, b} {
		for _, kv := range pairs {
			out = binary.LittleEndian.AppendUint32(out, uint32(len(kv[0])))
			out = binary.LittleEndian.AppendUint32(out, uint32(len(kv[1])))
		}
	}
	for _, pairs := range [2][][2]string{a, b} {
		for _, kv := range pairs {
			out = append(append(out, kv[0]...), 0)
			out = append(append(out, kv[1]...), 0)
		}
	}
	return out
}

// sendInternalError fails a request closed when the filter cannot decide.
func sendInternalError() {
	publishInternalError()
	body := appendProblem(nil, "https://apiguard.dev/problems/internal_error", "Internal error", 500,
		"the API gateway could not evaluate this request")
	headers := [][2]string{{"content-type", problemContentType}, {"cache-control", "no-store"}}
	if err := proxywasm.SendHttpResponse(500, headers, body, -1); err != nil {
		proxywasm.LogErrorf("apiguard: sending 500: %v", err)
	}
}

// appendProblem appends {"type","title","status","detail"} as JSON.
func appendProblem(b []byte, typ, title string, status int, detail string) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"detail":`...)
	b = appendJSONString(b, detail)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string (accesslog.AppendString:
// one escaping for every JSON the filter writes).
func appendJSONString(b []byte, s string) []byte { return accesslog.AppendString(b, s) }
