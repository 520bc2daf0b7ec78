package keyfetch

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keymat"
	"github.com/apiguard/apiguard/policy/keysnap"
)

var (
	signer = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	other  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	t0     = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
)

// base compiles a configuration with a key store fetching in ranges of
// chunk bytes (0: whole).
func base(t *testing.T, chunk int, edit func(ks map[string]any)) *policy.Policy {
	t.Helper()
	ks := map[string]any{"cluster": "keys", "path": "/k", "refresh": "10s", "timeout": "1s", "chunk_size": chunk,
		"public_key": base64.StdEncoding.EncodeToString(signer.Public().(ed25519.PublicKey))}
	if edit != nil {
		edit(ks)
	}
	cfg, _ := json.Marshal(map[string]any{
		"key_sources": []any{map[string]any{"header": "x-api-key"}},
		"routes":      []any{map[string]any{"name": "r", "path": "/v1/*", "scopes": []any{"read"}}},
		"rate_limits": map[string]any{"gold": map[string]any{"requests": 10, "per": "1s"}},
		"key_store":   ks,
	})
	p, err := policy.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// snap is a signed snapshot of generation gen with n keys.
func snap(t *testing.T, gen uint64, n int, priv ed25519.PrivateKey, audience string) []byte {
	t.Helper()
	s := &keysnap.Snapshot{Generation: gen, Created: t0, Audience: audience,
		Consumers: []keysnap.Consumer{{ID: "c", Scopes: []string{"read"}, RateLimit: "gold"}}}
	for i := 0; i < n; i++ {
		var d [32]byte
		sum, _ := hex.DecodeString(keymat.Hash("key-" + strconv.FormatUint(gen, 10) + "-" + strconv.Itoa(i)))
		copy(d[:], sum)
		s.Keys = append(s.Keys, keysnap.Key{Digest: d, ID: "k" + strconv.Itoa(i), NotBefore: keysnap.NoLowerBound, NotAfter: keysnap.NoUpperBound})
	}
	b, err := keysnap.Encode(s, priv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type body []byte

func (b body) Size() int { return len(b) }
func (b body) Read(off, n int) ([]byte, error) {
	if off+n > len(b) {
		return nil, errors.New("out of range")
	}
	return append([]byte(nil), b[off:off+n]...), nil
}
func (b body) ReadInto(dst []byte, off, n int) ([]byte, error) {
	if off+n > len(b) {
		return nil, errors.New("out of range")
	}
	if cap(dst)-len(dst) >= n {
		return append(dst[len(dst):], b[off:off+n]...), nil // in place, as the filter's bridge does
	}
	return append([]byte(nil), b[off:off+n]...), nil
}

type memFloor struct {
	gen    uint64
	digest [32]byte
	ok     bool
}

func (f *memFloor) Get() (uint64, [32]byte, bool) { return f.gen, f.digest, f.ok }
func (f *memFloor) Raise(gen uint64, d [32]byte) {
	if !f.ok || gen > f.gen {
		f.gen, f.digest, f.ok = gen, d, true
	}
}

// answer is the key store's answer to a call: status, headers, body.
func ok200(b []byte, etag string) (policy.HeaderList, Body) {
	return policy.HeaderList{{":status", "200"}, {"etag", etag}}, body(b)
}

func part(b []byte, from, to int, etag string) (policy.HeaderList, Body) {
	to = min(to, len(b)-1)
	return policy.HeaderList{{":status", "206"}, {"etag", etag},
		{"content-range", "bytes " + strconv.Itoa(from) + "-" + strconv.Itoa(to) + "/" + strconv.Itoa(len(b))}}, body(b[from : to+1])
}

func status(s string) (policy.HeaderList, Body) { return policy.HeaderList{{":status", s}}, body(nil) }

func header(c *Call, name string) string {
	for _, h := range c.Headers {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// drive answers the call in flight and ticks until the fetcher is idle
// again, answering every call with serve; it returns the actions of the
// whole refresh, merged.
func drive(t *testing.T, f *Fetcher, serve func(c *Call) (policy.HeaderList, Body), a Actions) (all []Actions) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		all = append(all, a)
		switch {
		case a.Call != nil:
			hs, b := serve(a.Call)
			a = f.Response(t0, hs, b)
		case f.State() == Pending || f.State() == Loading:
			a = f.Tick(t0)
		default:
			return all
		}
	}
	t.Fatal("the fetcher did not settle")
	return nil
}

func outcomes(all []Actions) string {
	var out []string
	for _, a := range all {
		if a.Outcome != 0 {
			out = append(out, a.Outcome.String()+cause(a.Cause))
		}
	}
	return strings.Join(out, " ")
}

func cause(c policy.LoadCause) string {
	if c == 0 {
		return ""
	}
	return "/" + c.String()
}

func swapped(all []Actions) *policy.Policy {
	var p *policy.Policy
	for _, a := range all {
		if a.Swap != nil {
			p = a.Swap
		}
	}
	return p
}

func whole(b []byte, etag string) func(*Call) (policy.HeaderList, Body) {
	return func(c *Call) (policy.HeaderList, Body) {
		if inm := header(c, "if-none-match"); inm != "" && inm == etag {
			return status("304")
		}
		return ok200(b, etag)
	}
}

// ranges serves b in the ranges asked for, with etag (and If-Range).
func ranges(b []byte, etag string) func(*Call) (policy.HeaderList, Body) {
	return func(c *Call) (policy.HeaderList, Body) {
		if inm := header(c, "if-none-match"); inm != "" && inm == etag {
			return status("304")
		}
		var from, to int
		r := strings.TrimPrefix(header(c, "range"), "bytes=")
		a, z, _ := strings.Cut(r, "-")
		from, _ = strconv.Atoi(a)
		to, _ = strconv.Atoi(z)
		if ir := header(c, "if-range"); ir != "" && ir != etag {
			return ok200(b, etag)
		}
		return part(b, from, to, etag)
	}
}

func TestTransitions(t *testing.T) {
	good := snap(t, 5, 100, signer, "")
	for _, tc := range []struct {
		name     string
		chunk    int
		edit     func(ks map[string]any)
		serve    func(c *Call) (policy.HeaderList, Body)
		floor    uint64 // a generation enforced already (0: none)
		want     string // outcomes, space-separated
		loaded   bool
		calls    int
		lastTick time.Duration
	}{
		{name: "whole", serve: whole(good, `"a"`), want: "loaded", loaded: true, calls: 1},
		{name: "ranges", chunk: 1024, serve: ranges(good, `"a"`), want: "loaded", loaded: true, calls: (len(good) + 1023) / 1024},
		{name: "failed call", serve: func(*Call) (policy.HeaderList, Body) { return nil, nil }, want: "failed", calls: 1},
		{name: "500", serve: func(*Call) (policy.HeaderList, Body) { return status("500") }, want: "http_error", calls: 1},
		{name: "304 out of turn", serve: func(*Call) (policy.HeaderList, Body) { return status("304") }, want: "failed", calls: 1},
		{name: "bad signature, whole", serve: whole(snap(t, 5, 100, other, ""), `"a"`), want: "rejected/bad_signature", calls: 1},
		{name: "bad signature, first range stops the fetch", chunk: 1024, serve: ranges(snap(t, 5, 100, other, ""), `"a"`),
			want: "rejected/bad_signature", calls: 1},
		{name: "unsigned", serve: whole(snap(t, 5, 100, nil, ""), `"a"`), want: "rejected/unsigned", calls: 1},
		{name: "wrong audience", serve: whole(snap(t, 5, 100, signer, "staging"), `"a"`), want: "rejected/wrong_audience", calls: 1},
		{name: "audience", edit: func(ks map[string]any) { ks["audience"] = "prod" }, serve: whole(snap(t, 5, 100, signer, "prod"), `"a"`),
			want: "loaded", loaded: true, calls: 1},
		{name: "too large", edit: func(ks map[string]any) { ks["max_size"] = 4096 }, chunk: 1024, serve: ranges(good, `"a"`),
			want: "rejected/too_large", calls: 1},
		{name: "older than the floor", floor: 6, serve: whole(good, `"a"`), want: "rejected/older_generation", calls: 1},
		{name: "same generation as the floor, other content", floor: 5, serve: whole(good, `"a"`), want: "rejected/older_generation", calls: 1},
		{name: "truncated whole body", serve: func(*Call) (policy.HeaderList, Body) { return ok200(good[:len(good)-1], `"a"`) },
			want: "rejected/truncated", calls: 1},
		{name: "trailing bytes", serve: func(*Call) (policy.HeaderList, Body) { return ok200(append(append([]byte(nil), good...), 0), `"a"`) },
			want: "rejected/corrupt", calls: 1},
		{name: "content-range against the signed header", chunk: 1024, serve: func(c *Call) (policy.HeaderList, Body) {
			hs, b := part(good, 0, 1023, `"a"`)
			hs[2][1] = "bytes 0-1023/999999"
			return hs, b
		}, want: "rejected/corrupt", calls: 1},
		{name: "bad content-range", chunk: 1024, serve: func(c *Call) (policy.HeaderList, Body) {
			hs, b := part(good, 0, 1023, `"a"`)
			hs[2][1] = "bytes 5-1023/4000"
			return hs, b
		}, want: "http_error", calls: 1},
		{name: "another ETag restarts", chunk: 1024, serve: func() func(*Call) (policy.HeaderList, Body) {
			n := 0
			return func(c *Call) (policy.HeaderList, Body) {
				n++
				etag := `"a"`
				if n == 2 {
					etag = `"b"` // the second call only
				}
				return ranges(good, etag)(&Call{Headers: dropIfRange(c.Headers)})
			}
		}(), want: "restarted loaded", loaded: true, calls: 2 + (len(good)+1023)/1024},
		{name: "200 in the middle restarts, then gives up", chunk: 1024, serve: func(c *Call) (policy.HeaderList, Body) {
			if header(c, "range") == "bytes=0-1023" {
				return part(good, 0, 1023, `"a"`)
			}
			return ok200(good, `"a"`)
		}, want: "restarted restarted restarted http_error", calls: 8},
		{name: "weak ETag never joins", chunk: 1024, serve: func(c *Call) (policy.HeaderList, Body) {
			return ranges(good, `W/"a"`)(&Call{Headers: dropIfRange(c.Headers)})
		}, want: "restarted restarted restarted http_error", calls: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := &memFloor{}
			if tc.floor != 0 {
				fl.Raise(tc.floor, [32]byte{1})
			}
			f := New(base(t, tc.chunk, tc.edit), fl)
			calls := 0
			serve := func(c *Call) (policy.HeaderList, Body) { calls++; return tc.serve(c) }
			all := drive(t, f, serve, f.Start(t0, nil))
			if got := outcomes(all); got != tc.want {
				t.Errorf("outcomes %q, want %q", got, tc.want)
			}
			if f.Loaded() != tc.loaded || (swapped(all) != nil) != tc.loaded {
				t.Errorf("loaded %v (swap %v), want %v", f.Loaded(), swapped(all) != nil, tc.loaded)
			}
			if calls != tc.calls {
				t.Errorf("%d calls, want %d", calls, tc.calls)
			}
			if f.State() != Idle {
				t.Errorf("state %v, want idle", f.State())
			}
			if tc.loaded && (fl.gen != 5 || !fl.ok) {
				t.Errorf("floor %d after a load of generation 5", fl.gen)
			}
		})
	}
}

func dropIfRange(hs [][2]string) [][2]string {
	var out [][2]string
	for _, h := range hs {
		if h[0] != "if-range" {
			out = append(out, h)
		}
	}
	return out
}

// After a load, refreshes revalidate: 304 with If-None-Match, or the same
// snapshot answered again (unchanged, found from the first range alone); a
// newer one loads; the tick period is the refresh, and fast only while
// ranges or loads go on.
func TestRefreshes(t *testing.T) {
	g5, g6 := snap(t, 5, 3000, signer, ""), snap(t, 6, 3000, signer, "")
	f := New(base(t, 4096, nil), &memFloor{})
	a := f.Start(t0, nil)
	if a.TickPeriod != time.Second {
		t.Errorf("tick period %v before the first load, want 1s", a.TickPeriod)
	}
	calls := 0
	serve := ranges(g5, `"5"`)
	count := func(c *Call) (policy.HeaderList, Body) { calls++; return serve(c) }
	all := drive(t, f, count, a)
	if !f.Loaded() {
		t.Fatal("not loaded")
	}
	var periods []time.Duration
	for _, a := range all {
		if a.TickPeriod != 0 {
			periods = append(periods, a.TickPeriod)
		}
	}
	if len(periods) < 2 || periods[0] != time.Second || periods[1] != LoadTickPeriod || periods[len(periods)-1] != 10*time.Second {
		t.Errorf("tick periods %v: want 1s, then fast, then the refresh (10s)", periods)
	}
	// 304.
	calls = 0
	all = drive(t, f, count, f.Tick(t0))
	if got := outcomes(all); got != "not_modified" || calls != 1 {
		t.Errorf("revalidation: %q in %d calls", got, calls)
	}
	// The same snapshot under another ETag: unchanged after one range.
	calls = 0
	serve = ranges(g5, `"5b"`)
	all = drive(t, f, count, f.Tick(t0))
	if got := outcomes(all); got != "unchanged" || calls != 1 {
		t.Errorf("same snapshot, new ETag: %q in %d calls", got, calls)
	}
	// A newer generation.
	serve = ranges(g6, `"6"`)
	all = drive(t, f, count, f.Tick(t0))
	if got := outcomes(all); got != "loaded" || f.Generation() != 6 {
		t.Errorf("generation 6: %q, generation %d", got, f.Generation())
	}
	// An older one now.
	serve = whole(g5, `"5c"`)
	all = drive(t, f, count, f.Tick(t0))
	if got := outcomes(all); got != "rejected/older_generation" || f.Generation() != 6 {
		t.Errorf("generation 5 after 6: %q, generation %d", got, f.Generation())
	}
}

// A call unanswered past its timeout is given up; Reset drops a fetch in
// progress and the answer that comes later; a call the host refuses fails.
func TestStuckResetAndRefused(t *testing.T) {
	g := snap(t, 5, 3000, signer, "")
	f := New(base(t, 4096, nil), &memFloor{})
	a := f.Start(t0, nil)
	if f.Tick(t0.Add(time.Second)).Call != nil {
		t.Error("a new call while the first is within its timeout")
	}
	if a = f.Tick(t0.Add(7 * time.Second)); a.Call == nil {
		t.Fatal("no new call after timeout + padding")
	}
	hs, b := ranges(g, `"a"`)(a.Call)
	f.Response(t0, hs, b) // first range: pending
	if f.State() != Pending {
		t.Fatalf("state %v after the first range", f.State())
	}
	f.Reset()
	if f.State() != Idle {
		t.Fatalf("state %v after Reset", f.State())
	}
	if a := f.Response(t0, hs, b); a.Outcome != 0 || a.Swap != nil {
		t.Errorf("an answer after Reset was used: %+v", a)
	}
	f.Tick(t0)
	if a := f.CallFailed(errors.New("bad cluster")); a.Outcome != Failed || len(a.Logs) != 1 || f.State() != Idle {
		t.Errorf("refused call: %+v, state %v", a, f.State())
	}
}

// Start binds a snapshot the VM verified earlier, unless a newer one was
// enforced since; the binding checks the new configuration.
func TestStartFromVerified(t *testing.T) {
	g := snap(t, 5, 100, signer, "")
	fl := &memFloor{}
	first := New(base(t, 0, nil), fl)
	all := drive(t, first, whole(g, `"a"`), first.Start(t0, nil))
	v := all[len(all)-1].Verified
	for _, a := range all {
		if a.Verified != nil {
			v = a.Verified
		}
	}
	if v == nil {
		t.Fatal("no verified snapshot")
	}
	second := New(base(t, 0, nil), fl)
	a := second.Start(t0, v)
	if a.Swap == nil || !second.Loaded() || a.Call == nil {
		t.Fatalf("start from a verified snapshot: swap %v, loaded %v, call %v", a.Swap != nil, second.Loaded(), a.Call != nil)
	}
	fl.Raise(7, [32]byte{})
	third := New(base(t, 0, nil), fl)
	if a := third.Start(t0, v); a.Swap != nil || third.Loaded() {
		t.Error("a snapshot older than the floor was bound")
	}
	// Another audience: the binding is refused by the header check.
	fourth := New(base(t, 0, func(ks map[string]any) { ks["audience"] = "prod" }), &memFloor{})
	if a := fourth.Start(t0, v); a.Swap != nil {
		t.Error("a snapshot of another audience was bound")
	}
}
