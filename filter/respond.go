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

// reply is a denial's serialized headers and body, and what they were
// built from, all in one buffer of its own (the strings are views of it,
// so that a reply keeps no request's or policy's memory alive). It is never
// written again once built: the SDK's emulator keeps views of what a local
// response was given.
//
// src is the problem the reply was last found for: the policy's own
// strings and header slice, kept so that a denial made of the very same
// ones (a 401's constants, a 403's per route and consumer, a 429's per
// bucket and second) is found by comparing pointers. They are never
// written (the policy's strings, and slices it never changes), so the same
// pointer and length is the same text. setPolicy empties replies, so that
// they keep no policy served before alive.
type reply struct {
	status             int
	reason             policy.Reason
	typ, title, detail string
	headers, body      []byte
	src                policy.Problem
	srcReason          policy.Reason
}

// replies holds the replies of recent denials, by replySlot.
var replies [16]*reply

// forgetReplies empties replies (setPolicy).
func forgetReplies() { replies = [len(replies)]*reply{} }

// replyFor returns the reply of the denial d, from replies or built anew.
func replyFor(d *policy.Decision) *reply {
	pr := &d.Problem
	slot := &replies[replySlot(d)]
	r := *slot
	if r != nil && r.status == d.Status && r.sameSource(d) {
		return r
	}
	if r != nil && r.status == d.Status && r.reason == d.Reason && r.detail == pr.Detail &&
		r.typ == pr.Type && r.title == pr.Title && mapHolds(r.headers, len(denialHeaders), pr.ResponseHeaders) {
		r.src, r.srcReason = *pr, d.Reason
		return r
	}
	r = buildReply(d)
	*slot = r
	return r
}

// sameSource reports whether d's problem is made of the strings and header
// slice r was last found for (its status compared apart).
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
	keys := len(d.Reason) + len(pr.Type) + len(pr.Title) + len(pr.Detail)
	b := make([]byte, 0, hsize+64+2*keys)
	b = appendHeaderMap(b, denialHeaders[:], pr.ResponseHeaders)
	n := len(b)
	b = appendProblem(b, pr.Type, pr.Title, d.Status, pr.Detail)
	m := len(b)
	r := &reply{status: d.Status, headers: b[:n:n], body: b[n:m:m], src: *pr, srcReason: d.Reason}
	var reason string
	b, reason = accesslog.AppendView(b, string(d.Reason))
	r.reason = policy.Reason(reason)
	b, r.typ = accesslog.AppendView(b, pr.Type)
	b, r.title = accesslog.AppendView(b, pr.Title)
	_, r.detail = accesslog.AppendView(b, pr.Detail)
	return r
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
