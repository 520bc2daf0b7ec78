package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"
	"time"
)

// DefaultClientIP is the client address of a request that records none.
const DefaultClientIP = "192.0.2.1"

// maxLineBytes bounds one line of recorded traffic.
const maxLineBytes = 1 << 20

// A Request is one recorded request, ready to replay.
type Request struct {
	// Line is the 1-based line of the request in its file.
	Line int
	// Method and Path are as recorded, with placeholders unresolved: safe
	// to print.
	Method, Path string
	// Note is the recording's free-text note, if any.
	Note string
	// At is when the request happens.
	At time.Time
	// ClientIP is the downstream address the filter sees.
	ClientIP netip.Addr

	// path and headers have their placeholders resolved: they may hold raw
	// keys and are never printed.
	path    string
	headers [][2]string
}

// record is one line of recorded traffic as written.
type record struct {
	Method   string          `json:"method"`
	Path     *string         `json:"path"`
	Headers  headerList      `json:"headers"`
	ClientIP string          `json:"client_ip"`
	At       json.RawMessage `json:"at"`
	Note     string          `json:"note"`
}

// ParseOptions tunes ParseRequests.
type ParseOptions struct {
	// Keys resolves "{{key:ID}}" placeholders.
	Keys Keys
	// Start is the time offsets count from. Zero means the first absolute
	// time in the file or, when there is none, the current time.
	Start time.Time
}

// ParseRequests reads recorded traffic: one JSON object per line, with
//
//	method     HTTP method, default GET
//	path       the :path, with the query (required)
//	headers    an object of header name to a string or a list of strings
//	           (repeated headers); pseudo-headers other than :authority are
//	           not allowed here
//	client_ip  the client's IP address, default 192.0.2.1
//	at         when: an RFC 3339 time, a Go duration ("1.5s", "+250ms") or
//	           a number of seconds counted from the start time; missing
//	           means the time of the previous request
//	note       free text, shown in reports
//
// Placeholders "{{key:ID}}" in the path and header values are replaced by
// keys from opts.Keys. Blank lines and lines starting with '#' are skipped.
// Every error names its line; none contains a resolved key.
func ParseRequests(r io.Reader, opts ParseOptions) ([]Request, error) {
	type pending struct {
		req      Request
		absolute bool
		offset   time.Duration
		hasAt    bool
	}
	var all []pending
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		req, at, err := parseLine(line, opts.Keys)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		req.Line = n
		p := pending{req: req, hasAt: at.set, absolute: at.absolute, offset: at.offset}
		if at.absolute {
			p.req.At = at.time
		}
		all = append(all, p)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes", n+1, maxLineBytes)
		}
		return nil, fmt.Errorf("after line %d: %w", n, err)
	}

	start := opts.Start
	if start.IsZero() {
		for _, p := range all {
			if p.absolute {
				start = p.req.At
				break
			}
		}
	}
	if start.IsZero() {
		start = time.Now()
	}
	reqs := make([]Request, len(all))
	prev := start
	for i, p := range all {
		switch {
		case p.absolute:
		case p.hasAt:
			p.req.At = start.Add(p.offset)
		default:
			p.req.At = prev
		}
		prev = p.req.At
		reqs[i] = p.req
	}
	return reqs, nil
}

// parseLine decodes one JSON line into a request whose time is still to be
// resolved.
func parseLine(line []byte, keys Keys) (Request, when, error) {
	var rec record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return Request{}, when{}, fmt.Errorf("not a request object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Request{}, when{}, errors.New("unexpected data after the JSON object (one request per line)")
	}
	if rec.Path == nil || *rec.Path == "" {
		return Request{}, when{}, errors.New(`"path" is required`)
	}
	req := Request{Method: rec.Method, Path: *rec.Path, Note: rec.Note}
	if req.Method == "" {
		req.Method = "GET"
	}
	if !isToken(req.Method) {
		return Request{}, when{}, fmt.Errorf(`"method" %q is not an HTTP method`, req.Method)
	}
	ip := rec.ClientIP
	if ip == "" {
		ip = DefaultClientIP
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return Request{}, when{}, fmt.Errorf(`"client_ip": %w`, err)
	}
	req.ClientIP = addr.Unmap()

	if req.path, err = keys.resolve(req.Path); err != nil {
		return Request{}, when{}, fmt.Errorf(`"path": %w`, err)
	}
	for _, h := range rec.Headers {
		name := strings.ToLower(h[0])
		if name == "" || (strings.HasPrefix(name, ":") && name != ":authority") {
			return Request{}, when{}, fmt.Errorf(`"headers": %q is not allowed here (use "method" and "path")`, h[0])
		}
		v, err := keys.resolve(h[1])
		if err != nil {
			return Request{}, when{}, fmt.Errorf(`"headers": %s: %w`, name, err)
		}
		req.headers = append(req.headers, [2]string{name, v})
	}
	at, err := parseWhen(rec.At)
	if err != nil {
		return Request{}, when{}, fmt.Errorf(`"at": %w`, err)
	}
	return req, at, nil
}

// when is a parsed "at": an absolute time or an offset from the start.
type when struct {
	set      bool
	absolute bool
	time     time.Time
	offset   time.Duration
}

func parseWhen(raw json.RawMessage) (when, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return when{}, nil
	}
	var secs float64
	if err := json.Unmarshal(raw, &secs); err == nil {
		if math.IsNaN(secs) || math.Abs(secs) > float64(math.MaxInt64/int64(time.Second)) {
			return when{}, fmt.Errorf("%s seconds is out of range", raw)
		}
		return when{set: true, offset: time.Duration(secs * float64(time.Second))}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return when{}, errors.New("want an RFC 3339 time, a duration or a number of seconds")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return when{set: true, absolute: true, time: t}, nil
	}
	d, err := time.ParseDuration(strings.TrimPrefix(s, "+"))
	if err != nil {
		return when{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as \"1.5s\"", s)
	}
	return when{set: true, offset: d}, nil
}

// headerList is a JSON object of header names to a string or a list of
// strings, kept in the order written.
type headerList [][2]string

// UnmarshalJSON implements json.Unmarshaler.
func (h *headerList) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New(`"headers" must be an object of name to value`)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name := t.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		var one string
		if err := json.Unmarshal(raw, &one); err == nil {
			*h = append(*h, [2]string{name, one})
			continue
		}
		var many []string
		if err := json.Unmarshal(raw, &many); err != nil {
			return fmt.Errorf("header %q: want a string or a list of strings", name)
		}
		for _, v := range many {
			*h = append(*h, [2]string{name, v})
		}
	}
	_, err := dec.Token() // the closing brace
	return err
}

// isToken reports whether s is an RFC 9110 token, as a method must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
