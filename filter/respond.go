package main

import (
	"strconv"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/internal/accesslog"
	"github.com/apiguard/apiguard/policy"
)

const problemContentType = "application/problem+json"

// sendDenial answers the request locally with the decision's status and an
// RFC 9457 problem document. The decision never carries the presented key,
// so neither does the body.
func sendDenial(d policy.Decision) {
	headers := make([][2]string, 0, 2+len(d.Problem.ResponseHeaders))
	headers = append(headers,
		[2]string{"content-type", problemContentType},
		[2]string{"cache-control", "no-store"})
	headers = append(headers, d.Problem.ResponseHeaders...)
	body := appendProblem(make([]byte, 0, 64+len(d.Problem.Type)+len(d.Problem.Title)+len(d.Problem.Detail)),
		d.Problem.Type, d.Problem.Title, d.Status, d.Problem.Detail)
	if err := proxywasm.SendHttpResponse(uint32(d.Status), headers, body, -1); err != nil {
		proxywasm.LogErrorf("apiguard: sending %d: %v", d.Status, err)
	}
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
