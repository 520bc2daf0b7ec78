package policy

import "strconv"

// The 429 decision: RateLimited turns an allowed decision denied by its
// bucket into the denial, with the RateLimit fields of the bucket.

// Fields are the parts of a bucket's RateLimit-Policy and RateLimit
// fields that depend on neither the time nor the bucket's state, only on
// its limit and partition key, so that a caller may keep them per bucket:
// the whole RateLimit-Policy value (PolicyHeader), and what the RateLimit
// value holds before its remaining tokens (`"<name>";r=`) and after its
// reset time (`;pk=:<base64>:`).
//
// A Fields also keeps the text of the last 429 RateLimitedWith made from
// it, which repeats until the retry time or the counts change (once a
// second at most): a Fields kept per bucket is for one goroutine at a
// time, as a worker's VM is.
type Fields struct {
	Policy, Prefix, Suffix string
	last                   *rateLimitedText
}

// rateLimitedInfo is the fixed response data of a 429.
var rateLimitedInfo = reasonInfo[ReasonRateLimited]

// rateLimitedText is what a 429 formats, with the numbers it was
// formatted from.
type rateLimitedText struct {
	retry, remaining, reset int64
	detail                  string
	headers                 [][2]string
}

// Fields returns the fields of the bucket of partitionKey under l.
func (l *Limit) Fields(partitionKey string) Fields {
	var buf [headerBuf]byte
	b := append(appendSFString(buf[:0], l.name()), ";r="...)
	n := len(b)
	all := string(appendPK(b, partitionKey))
	return Fields{Policy: l.PolicyHeader(partitionKey), Prefix: all[:n], Suffix: all[n:]}
}

// AppendHeader appends the RateLimit field value of res from f:
// Limit.AppendHeader's value.
func (f *Fields) AppendHeader(b []byte, res TakeResult) []byte {
	return append(appendCounts(append(b, f.Prefix...), res), f.Suffix...)
}

// RateLimited turns the allowed decision d into the 429 denial for it:
// reason rate_limited, problem fields, and the Retry-After (whole seconds,
// at least 1), RateLimit-Policy and RateLimit response headers. Route,
// consumer, key and bucket fields are kept; upstream changes are dropped.
func RateLimited(d Decision, res TakeResult) Decision {
	var f Fields
	if l := d.RateLimit.Limit; l != nil {
		f = l.Fields(d.RateLimit.PartitionKey)
	}
	return RateLimitedWith(d, res, &f)
}

// RateLimitedWith is RateLimited given the Fields of d's limit and
// partition, which a caller may keep per bucket. The retry time, the
// detail and the RateLimit value share one string: with the headers'
// slice, two allocations, none when f's last 429 had the same numbers.
func RateLimitedWith(d Decision, res TakeResult, f *Fields) Decision {
	retry := max(ceilSeconds(res.RetryAfter), 1)
	out := Decision{
		Status:    rateLimitedInfo.status,
		Reason:    ReasonRateLimited,
		Problem:   Problem{Type: rateLimitedInfo.typ, Title: rateLimitedInfo.title},
		Route:     d.Route,
		Identity:  d.Identity,
		RateLimit: d.RateLimit,
	}
	remaining, reset := max(res.Remaining, 0), ceilSeconds(max(res.Reset, 0))
	t := f.last
	if t == nil || t.retry != retry || t.remaining != remaining || t.reset != reset {
		t = rateLimitedTextOf(d.RateLimit.Limit, f, res, retry)
		t.remaining, t.reset = remaining, reset
		f.last = t
	}
	out.Problem.Detail, out.Problem.ResponseHeaders = t.detail, t.headers
	return out
}

// rateLimitedTextOf formats the detail and headers of a 429 under l (nil
// for none) with fields f.
func rateLimitedTextOf(l *Limit, f *Fields, res TakeResult, retry int64) *rateLimitedText {
	var buf [2 * headerBuf]byte
	b := strconv.AppendInt(buf[:0], retry, 10)
	digits := len(b)
	if l == nil {
		b = append(b, "the rate limit was exceeded; retry in "...)
	} else {
		b = append(append(append(b, "rate limit "...), l.quotedName()...), " exceeded; retry in "...)
	}
	b = append(append(b, b[:digits]...), " s"...)
	detailEnd := len(b)
	if l != nil {
		b = f.AppendHeader(b, res)
	}
	all := string(b)
	t := &rateLimitedText{retry: retry, detail: all[digits:detailEnd]}
	if l == nil {
		t.headers = [][2]string{{"retry-after", all[:digits]}}
		return t
	}
	t.headers = [][2]string{{"retry-after", all[:digits]},
		{"ratelimit-policy", f.Policy},
		{"ratelimit", all[detailEnd:]}}
	return t
}
