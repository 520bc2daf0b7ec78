package accesslog

import (
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy"
)

// TestEncoderWritesWhatRecordDoes: an Encoder writes every line as
// Record.AppendJSON does, whatever it wrote before: heads that share a
// slot, a route or method that changes, times in the same second and
// across seconds, fractions of zero, years RFC 3339 cannot write, each
// field after the head changed and changed back.
func TestEncoderWritesWhatRecordDoes(t *testing.T) {
	base := time.Date(2026, 6, 1, 12, 0, 0, 123456789, time.UTC)
	var recs []Record
	for i, tm := range []time.Time{
		base, base.Add(time.Millisecond), base.Add(time.Second), base.Add(-base.Sub(base.Truncate(time.Second))),
		base.Add(999 * time.Millisecond), time.Date(10000, 1, 1, 0, 0, 0, 5, time.UTC), base.In(time.FixedZone("x", 3600)),
		time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		base, time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), base.Add(time.Nanosecond),
	} {
		r := sample
		r.Time = tm
		recs = append(recs, r)
		r.Route = []string{"list-orders", "list-ordert", "", "路线\"<x>"}[i%4]
		r.Method = []string{"GET", "PUT", "POST", "GET\n"}[i%4]
		r.Reason = []policy.Reason{policy.ReasonRevoked, policy.ReasonUnknown, policy.ReasonRateLimited}[i%3]
		r.Status = []int{401, 403, 429, 400}[i%4]
		r.Decision = []policy.Outcome{policy.OutcomeDeny, policy.OutcomeShadowDeny, policy.OutcomeAllow}[i%3]
		r.Path = "/v1/o?api_key=secret"
		recs = append(recs, r)
	}
	// One field of the head changed at a time, keeping the slot.
	for _, change := range []func(*Record){
		func(r *Record) { r.Method = "PUT" }, func(r *Record) { r.Route = "list-ordera" },
		func(r *Record) { r.Reason = policy.ReasonExpired }, func(r *Record) { r.Status = 417 }, // 401 + 16: the same slot
		func(r *Record) { r.Decision = policy.OutcomeShadowDeny },
	} {
		r := sample
		change(&r)
		recs = append(recs, sample, r)
	}
	// The fields of the tail changed one at a time, then back.
	for _, change := range []func(*Record){
		func(r *Record) { r.Path = "/v1/orders/2" }, func(r *Record) { r.Path = "/v1/orders?x=1" },
		func(r *Record) { r.Consumer = "reader" }, func(r *Record) { r.KeyID = "reader-1" },
		func(r *Record) { r.ClientIP = "2001:db8::1" }, func(r *Record) { r.RequestID = "other" },
		func(r *Record) { r.Consumer, r.KeyID = r.KeyID, r.Consumer },
	} {
		r := sample
		change(&r)
		recs = append(recs, sample, r, r, sample)
	}
	var e Encoder
	for round := 0; round < 3; round++ {
		for i := range recs {
			want := string(recs[i].AppendJSON(nil))
			if got := string(e.AppendJSON(nil, &recs[i])); got != want {
				t.Errorf("round %d, record %d: Encoder writes\n%s\nRecord writes\n%s", round, i, got, want)
			}
		}
	}
}

// TestEncoderAllocatesNothingOnRepeat: a line whose head was written
// before, into a buffer with room, allocates nothing.
func TestEncoderAllocatesNothingOnRepeat(t *testing.T) {
	var e Encoder
	r := sample
	buf := e.AppendJSON(make([]byte, 0, r.Size()), &r)
	if n := testing.AllocsPerRun(100, func() {
		r.Time = r.Time.Add(time.Microsecond)
		buf = e.AppendJSON(buf[:0], &r)
	}); n != 0 {
		t.Errorf("Encoder.AppendJSON allocates %v times per repeated line", n)
	}
}
