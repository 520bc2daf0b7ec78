package accesslog

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy"
)

var sample = Record{
	Time:     time.Date(2026, 6, 1, 12, 0, 0, 123456789, time.UTC),
	Decision: policy.OutcomeDeny, Reason: policy.ReasonRevoked, Status: 401,
	Route: "list-orders", Method: "GET", Path: "/v1/orders", Consumer: "billing", KeyID: "billing-2025",
	ClientIP: "192.0.2.7", RequestID: "7a2d",
}

// TestDocumentedLinesAreWhatTheFilterWrites: each example line of
// docs/operations.md's Logs section parses, and encoding it again gives
// the same bytes: the documentation shows the shape the filter writes.
func TestDocumentedLinesAreWhatTheFilterWrites(t *testing.T) {
	const doc = "../../docs/operations.md"
	data, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(data), "\n## Logs\n")
	if !ok {
		t.Fatalf("%s has no Logs section", doc)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	n := 0
	for _, l := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(l, `{"time":`) {
			continue
		}
		n++
		r, err := Parse([]byte(l))
		if err != nil {
			t.Errorf("%s: %v\n%s", doc, err, l)
			continue
		}
		if got := string(r.AppendJSON(nil)); got != l {
			t.Errorf("%s documents\n%s\nthe filter writes\n%s", doc, l, got)
		}
	}
	if n == 0 {
		t.Fatalf("%s: no example line in the Logs section", doc)
	}
	// The sentence that lists the decisions lists every outcome, and no
	// other word.
	_, list, ok := strings.Cut(sec, "\n`decision` is ")
	if !ok {
		t.Fatalf("%s: the Logs section does not list the decisions (\"`decision` is ...\")", doc)
	}
	list, _, _ = strings.Cut(list, ".")
	var words []string
	for _, o := range policy.Outcomes() {
		words = append(words, o.String())
	}
	var documented []string
	for i, part := range strings.Split(list, "`") {
		if i%2 == 1 {
			documented = append(documented, part)
		}
	}
	slices.Sort(words)
	slices.Sort(documented)
	if !slices.Equal(words, documented) {
		t.Errorf("%s lists the decisions %q; the outcomes are %q", doc, documented, words)
	}
}

func TestRoundTrip(t *testing.T) {
	tricky := sample
	tricky.Route, tricky.Consumer = `a"b\c<d>&e`, "tab\tnewline\nnul\x00 line\u2028sep é"
	tricky.Decision, tricky.Time = policy.OutcomeShadowDeny, time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	for _, r := range []Record{sample, tricky, {Decision: policy.OutcomeAllow, Time: time.Unix(0, 0).UTC()}} {
		line := r.AppendJSON(nil)
		if !json.Valid(line) {
			t.Fatalf("invalid JSON: %s", line)
		}
		back, err := Parse(line)
		if err != nil {
			t.Fatalf("Parse(%s): %v", line, err)
		}
		if !back.Time.Equal(r.Time) {
			t.Errorf("time %v, want %v", back.Time, r.Time)
		}
		back.Time = r.Time
		if back != r {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", line, back, r)
		}
	}
}

// TestSameAsEncodingJSON: for strings without control characters (which
// encoding/json escapes in short forms like \n), AppendJSON writes what
// json.Marshal writes for the Record: one shape, two encoders that agree.
func TestSameAsEncodingJSON(t *testing.T) {
	r := sample
	r.Route = `a"b\c<d>&e é` + "\u2028"
	want, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.AppendJSON(nil); string(got) != string(want) {
		t.Errorf("AppendJSON:\n%s\njson.Marshal:\n%s", got, want)
	}
}

func TestPathWithoutQuery(t *testing.T) {
	r := sample
	r.Path = "/v1/orders?api_key=agk_secret&limit=5"
	line := string(r.AppendJSON(nil))
	if strings.Contains(line, "agk_secret") || !strings.Contains(line, `"path":"/v1/orders",`) {
		t.Errorf("line %s", line)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		line string
		want error // nil: any error
	}{
		{`not json`, nil},
		{`{"level":"info","msg":"x"}`, ErrNotARecord},
		{`{"decision":"permit","reason":"allowed"}`, nil},
		{`{"decision":"","reason":"allowed"}`, nil},
	} {
		_, err := Parse([]byte(tc.line))
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("Parse(%s) = %v, want %v", tc.line, err, tc.want)
		}
	}
}

func TestAppendJSONAllocatesNothingWithRoom(t *testing.T) {
	buf := make([]byte, 0, sample.Size())
	if n := testing.AllocsPerRun(100, func() { buf = sample.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON allocates %v times per line", n)
	}
	if len(buf) > sample.Size() {
		t.Errorf("line of %d bytes, Size %d", len(buf), sample.Size())
	}
}

// BenchmarkEncode compares AppendJSON with encoding/json on the same
// record, each making a new line as the filter does.
func BenchmarkEncode(b *testing.B) {
	b.Run("encoder=append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = sample.AppendJSON(make([]byte, 0, sample.Size()))
		}
	})
	b.Run("encoder=encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&sample); err != nil {
				b.Fatal(err)
			}
		}
	})
}
