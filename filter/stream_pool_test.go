package main

import (
	"slices"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/vmtest"
)

func TestStreamPool(t *testing.T) {
	s := streamPool{on: true, free: make([]*httpContext, 0, freeContexts)}
	a := s.get()
	a.plugin, a.id, a.bucket = &pluginContext{}, 7, "consumer/gold/billing"
	s.streamEnded(7, a)
	if b := s.get(); b == a {
		t.Fatal("an ended context was reused before the host deleted it")
	}
	s.deleted(8) // another context: nothing to reuse
	if len(s.free) != 0 {
		t.Fatalf("deleting an unknown context freed %d", len(s.free))
	}
	s.deleted(7)
	b := s.get()
	if b != a {
		t.Fatal("a deleted context was not reused")
	}
	if *b != (httpContext{}) {
		t.Fatalf("a reused context is not zero: %+v", *b)
	}
	s.deleted(7) // deleted twice: no second reuse
	if len(s.free) != 0 {
		t.Fatal("a context deleted twice was freed twice")
	}

	// More streams end than wait for deletion: the oldest are left to the
	// collector, the newest are reused.
	hs := make([]*httpContext, endedStreams+3)
	for i := range hs {
		hs[i] = new(httpContext)
		s.streamEnded(uint32(100+i), hs[i])
	}
	for i := range hs {
		s.deleted(uint32(100 + i))
	}
	if len(s.free) != endedStreams || !slices.Contains(s.free, hs[len(hs)-1]) || slices.Contains(s.free, hs[0]) {
		t.Fatalf("freed %d contexts, want the last %d", len(s.free), endedStreams)
	}

	// At most freeContexts are kept.
	for i := range 2 * freeContexts {
		s.streamEnded(uint32(1000+i), new(httpContext))
		s.deleted(uint32(1000 + i))
	}
	if len(s.free) != freeContexts {
		t.Fatalf("kept %d free contexts, want %d", len(s.free), freeContexts)
	}

	// Without the bridge's reports nothing is kept.
	off := streamPool{}
	c := off.get()
	off.streamEnded(1, c)
	off.deleted(1)
	if len(off.free) != 0 || off.get() == c {
		t.Fatal("reused a context without deletion reports")
	}
}

// TestReusedContextsStartClean sends requests of every outcome one after
// the other to one plugin, whose HTTP contexts are reused in cpphost
// (stream_pool.go), and checks that each is answered as by a plugin that
// serves nothing else: a stream keeps nothing of the one before, such as
// its rate limit (RateLimit headers on the next response), its quota or
// its path. The plugin serves with quotas in enforce mode, then after a
// configuration push in shadow mode.
func TestReusedContextsStartClean(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		config := func(mode string) []byte {
			return quotaTestConfig(t, k, func(c map[string]any) {
				c["mode"] = mode
				// Rounds of requests, each answered as alone: no bucket runs dry.
				c["rate_limits"].(map[string]any)["anonymous"] = map[string]any{"requests": 1000, "per": "1s", "burst": 1000}
			})
		}
		requests := []struct {
			path string
			key  string
		}{
			{"/v1/orders/1", k.billing},           // allowed, rate-limited, quota
			{"/v1/orders/1", k.unknown},           // 401
			{"/v1/files/a", k.reader},             // allowed, no rate limit, route quota
			{"/v1/orders?limit=500", k.billing},   // 400
			{"/healthz?api_key=" + k.billing, ""}, // public: credential stripped, anonymous limit
			{"/v1/orders/1", k.reader},            // 403
			{"/v1/files/b", k.reader},             // allowed, no rate limit
			{"/v1/orders?limit=7", k.billing},     // allowed, rate-limited, path kept
		}
		do := func(e *env, i int) outcome {
			r := requests[i]
			if r.key == "" {
				return e.do(r.path)
			}
			return e.do(r.path, [2]string{"x-api-key", r.key})
		}
		// Every answer alone first: the SDK's emulator runs one plugin at
		// a time.
		modes := []string{"enforce", "shadow"}
		alone := map[string][]outcome{}
		for _, mode := range modes {
			for i := range requests {
				a := start(t, vm, config(mode))
				alone[mode] = append(alone[mode], do(a, i))
				a.close()
			}
		}
		e := start(t, vm, config(modes[0]))
		defer e.close()
		for m, mode := range modes {
			if m > 0 {
				if err := e.d.PushConfig(config(mode)); err != nil {
					t.Fatalf("pushing the %s configuration: %v", mode, err)
				}
			}
			want := alone[mode]
			for round := range 3 {
				for i := range requests {
					got := do(e, i)
					if got.status() != want[i].status() || !slices.Equal(got.upstream, want[i].upstream) ||
						!slices.Equal(headerNames(got.response), headerNames(want[i].response)) {
						t.Errorf("%s, round %d, request %d (%s): got %d upstream %q response %q; alone: %d upstream %q response %q",
							mode, round, i, requests[i].path, got.status(), got.upstream, headerNames(got.response),
							want[i].status(), want[i].upstream, headerNames(want[i].response))
					}
				}
			}
		}
	})
}

// status is the local response's status, 0 when forwarded.
func (o outcome) status() int {
	if o.local == nil {
		return 0
	}
	return int(o.local.StatusCode)
}

// headerNames returns the names of hs, sorted.
func headerNames(hs [][2]string) []string {
	var names []string
	for _, h := range hs {
		names = append(names, h[0])
	}
	slices.Sort(names)
	return names
}
