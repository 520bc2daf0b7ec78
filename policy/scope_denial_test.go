package policy

import (
	"reflect"
	"sync"
	"testing"
)

// TestScopeDenialCached: the insufficient_scope denials of different
// routes and consumers, decided again and again in turn, and by a policy
// copied from the first (as a key snapshot's is), are the first ones.
func TestScopeDenialCached(t *testing.T) {
	p, keys := loadExample(t)
	reqs := []struct {
		r       Request
		missing []string
		header  string
	}{
		{req("POST", "/v1/orders", "x-api-key", keys["reports-2026"]), []string{"orders:write"},
			`ApiKey realm="apiguard", error="insufficient_scope", scope="orders:write"`},
		{get("/v1/files/a", "x-api-key", keys["billing-2026"]), []string{"files:read"},
			`ApiKey realm="apiguard", error="insufficient_scope", scope="files:read"`},
	}
	first := make([]Decision, len(reqs))
	for i, tt := range reqs {
		d := p.Decide(tt.r)
		if d.Reason != ReasonInsufficientScope || !reflect.DeepEqual(d.Problem.MissingScopes, tt.missing) ||
			d.Problem.Detail != "missing scopes: "+tt.missing[0] ||
			!reflect.DeepEqual(d.Problem.ResponseHeaders, [][2]string{{"www-authenticate", tt.header}}) {
			t.Fatalf("request %d: %+v", i, d)
		}
		first[i] = d
	}
	np := *p
	for range 3 {
		for i, tt := range reqs {
			for _, q := range []*Policy{p, &np} {
				if d := q.Decide(tt.r); !reflect.DeepEqual(d, first[i]) {
					t.Fatalf("request %d again: %+v, first %+v", i, d, first[i])
				}
			}
		}
	}
}

// TestScopeDenialConcurrent: a Policy shared by goroutines (natively)
// gives every one the same denial (go test -race checks the cache's
// lock).
func TestScopeDenialConcurrent(t *testing.T) {
	p, keys := loadExample(t)
	r := req("POST", "/v1/orders", "x-api-key", keys["reports-2026"])
	want := p.Decide(r)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if d := p.Decide(r); !reflect.DeepEqual(d, want) {
					t.Errorf("concurrent decision %+v, want %+v", d, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
