package accesslog

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendTimeIsRFC3339Nano: appendTime writes what time.RFC3339Nano
// does, for every fraction length, zones other than UTC, and years
// outside four digits.
func TestAppendTimeIsRFC3339Nano(t *testing.T) {
	east := time.FixedZone("east", 5*3600+1800)
	times := []time.Time{
		{}, time.Unix(0, 0), time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 6, 1, 12, 0, 0, 100, time.UTC), time.Date(1999, 12, 31, 23, 59, 59, 999999999, east),
		time.Date(-1, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		ns := r.Int64N(1 << 62)
		switch r.IntN(3) {
		case 0:
			ns -= ns % int64(time.Second)
		case 1:
			ns -= ns % int64(time.Millisecond)
		}
		times = append(times, time.Unix(0, ns).In(east), time.Unix(0, -ns/4))
	}
	for _, tm := range times {
		want := tm.UTC().AppendFormat([]byte("x"), time.RFC3339Nano)
		if got := appendTime([]byte("x"), tm); string(got) != string(want) {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
}
