package policy

import (
	"slices"
	"testing"

	"github.com/apiguard/apiguard/policy/keymat"
)

func TestBucketKeys(t *testing.T) {
	p, err := Compile([]byte(`{
		"consumers": [
			{"id": "a", "rate_limit": "gold", "keys": [{"id": "ka", "sha256": "` + keymat.Hash("a") + `"}]},
			{"id": "b", "keys": [{"id": "kb", "sha256": "` + keymat.Hash("b") + `"}]}
		],
		"routes": [
			{"name": "r", "path": "/r", "rate_limit": "route"},
			{"name": "pub", "path": "/pub", "public": true, "rate_limit": "anon"}
		],
		"rate_limits": {"gold": {"requests": 1, "per": "1s"}, "route": {"requests": 1, "per": "1s"},
			"anon": {"requests": 1, "per": "1s"}, "default": {"requests": 1, "per": "1s"}, "unused": {"requests": 1, "per": "1s"}},
		"default_rate_limit": "default",
		"anonymous_buckets": 2
	}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	p.BucketKeys(func(k string) bool { got = append(got, k); return true })
	slices.Sort(got)
	want := []string{"anon/anon/0", "anon/anon/1", "consumer/default/b", "consumer/gold/a", "consumer/route/a", "consumer/route/b"}
	if !slices.Equal(got, want) {
		t.Fatalf("BucketKeys = %q\nwant %q", got, want)
	}
	// Every key Decide names is among them.
	for _, r := range []Request{
		{Method: "GET", Path: "/r", Headers: HeaderList{{"x-api-key", "a"}}},
		{Method: "GET", Path: "/r", Headers: HeaderList{{"x-api-key", "b"}}},
		{Method: "GET", Path: "/pub", ClientIP: "192.0.2.1"},
	} {
		d := p.Decide(r)
		if d.RateLimit.BucketKey == "" || !slices.Contains(got, d.RateLimit.BucketKey) {
			t.Errorf("%s: bucket %q not created up front", r.Path, d.RateLimit.BucketKey)
		}
	}
	n := 0
	p.BucketKeys(func(string) bool { n++; return false })
	if n != 1 {
		t.Errorf("yield returning false did not stop the walk (%d calls)", n)
	}
}
