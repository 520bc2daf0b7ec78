package main

import (
	"strconv"
	"unicode/utf8"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

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

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Control characters, quotes,
// backslashes and the HTML-sensitive <, >, & are escaped; invalid UTF-8 is
// replaced with U+FFFD so the output is always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0 // s[start:i] is plain and not yet appended
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			if c == '"' || c == '\\' {
				b = append(b, '\\', c)
			} else {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == 0x2028 || r == 0x2029 {
			b = append(b, s[start:i]...)
			if r == utf8.RuneError {
				b = append(b, "\ufffd"...)
			} else {
				b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
