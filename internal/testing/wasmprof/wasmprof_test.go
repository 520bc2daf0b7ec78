package wasmprof

import (
	"context"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

// testModule is a wasm module, written out by hand: it imports env.h and
// defines pkg.inner (which calls h) and pkg.outer (which calls pkg.inner
// twice and h once), exporting outer; a name section names them.
func testModule() []byte {
	section := func(id byte, body ...byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	m := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	m = append(m, section(1, 0x01, 0x60, 0x00, 0x00)...)                                                            // type 0: () -> ()
	m = append(m, section(2, append(append([]byte{0x01}, name("env")...), append(name("h"), 0x00, 0x00)...)...)...) // import env.h
	m = append(m, section(3, 0x02, 0x00, 0x00)...)                                                                  // functions 1, 2 of type 0
	m = append(m, section(7, append([]byte{0x01}, append(name("outer"), 0x00, 0x02)...)...)...)                     // export outer
	inner := []byte{0x00, 0x10, 0x00, 0x0b}                                                                         // call h
	outer := []byte{0x00, 0x10, 0x01, 0x10, 0x01, 0x10, 0x00, 0x0b}                                                 // inner, inner, h
	code := append([]byte{0x02, byte(len(inner))}, inner...)
	code = append(append(code, byte(len(outer))), outer...)
	m = append(m, section(10, code...)...)
	names := []byte{0x02}
	names = append(append(append(names, 0x01), name("pkg.inner")...), append([]byte{0x02}, name("pkg.outer")...)...)
	sub := append([]byte{0x01, byte(len(names))}, names...)
	return append(m, section(0, append(name("name"), sub...)...)...)
}

// run instantiates the test module with p listening and calls outer n
// times while p counts; h sleeps 200 µs, so that time is measurable.
func run(t *testing.T, p *Profiler, n int) {
	t.Helper()
	ctx := experimental.WithFunctionListenerFactory(context.Background(), p)
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	if _, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func() { time.Sleep(200 * time.Microsecond) }).Export("h").Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, testModule())
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	for range n {
		if _, err := mod.ExportedFunction("outer").Call(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p.Stop()
}

func groups(p *Profiler) map[string]Group {
	out := map[string]Group{}
	for _, g := range p.Groups() {
		out[g.Name] = g
	}
	return out
}

func TestGroups(t *testing.T) {
	p := New([]Rule{{Group: "inner", Prefixes: []string{"pkg.inner$"}}, {Group: "outer", Prefixes: []string{"pkg.out"}}})
	p.Hosts = true
	run(t, p, 5)
	g := groups(p)
	inner, outer, host := g["inner"], g["outer"], g[HostGroup+": h"]
	if inner.Calls != 10 || outer.Calls != 5 || host.Calls != 15 {
		t.Fatalf("calls: inner %d, outer %d, h %d; want 10, 5, 15", inner.Calls, outer.Calls, host.Calls)
	}
	if p.Calls() != 30 {
		t.Errorf("listened calls %d, want 30", p.Calls())
	}
	// Each call of h sleeps 200 µs: inner holds 10, outer all 15.
	if inner.Incl < 2*time.Millisecond || outer.Incl < 3*time.Millisecond || outer.Incl < inner.Incl {
		t.Errorf("inclusive: inner %v, outer %v", inner.Incl, outer.Incl)
	}
	// Self time: the sleeps are h's own, not its callers'.
	if host.Self < 3*time.Millisecond || inner.Self >= inner.Incl || outer.Self >= outer.Incl-inner.Incl {
		t.Errorf("self: h %v, inner %v of %v, outer %v of %v", host.Self, inner.Self, inner.Incl, outer.Self, outer.Incl)
	}
}

func TestUnlistened(t *testing.T) {
	// Without Hosts, h has no listener and its time is its caller's; an
	// exact name that is only a prefix matches nothing.
	p := New([]Rule{{Group: "inner", Prefixes: []string{"pkg.inn$"}}, {Group: "outer", Prefixes: []string{"pkg.outer$"}}})
	run(t, p, 4)
	g := groups(p)
	if _, ok := g["inner"]; ok {
		t.Error(`"pkg.inn$" matched pkg.inner`)
	}
	if _, ok := g[HostGroup+": h"]; ok {
		t.Error("h was listened to without Hosts")
	}
	if outer := g["outer"]; outer.Calls != 4 || outer.Self < 12*200*time.Microsecond || p.Calls() != 4 {
		t.Errorf("outer: %d calls, self %v; listened calls %d", outer.Calls, outer.Self, p.Calls())
	}
	// The prefix that matched nothing is reported, the one that did is not.
	if got := p.Unmatched(); len(got) != 1 || got[0] != "inner: pkg.inn$" {
		t.Errorf("Unmatched() = %q, want [\"inner: pkg.inn$\"]", got)
	}
}

func TestAllFuncs(t *testing.T) {
	p := New(nil)
	p.All = true
	run(t, p, 3)
	got := map[string]Func{}
	for _, f := range p.Funcs(10) {
		got[f.Name] = f
	}
	for name, calls := range map[string]uint64{"pkg.outer": 3, "pkg.inner": 6, "env.h": 9} {
		if got[name].Calls != calls {
			t.Errorf("%s: %d calls, want %d (%v)", name, got[name].Calls, calls, got)
		}
	}
	// With no rule, the guest functions' self time is the other group's;
	// the host function is a group of its own, with the sleeps.
	g := groups(p)
	if host, other := g[HostGroup+": h"], g[OtherGroup]; host.Self < 9*200*time.Microsecond || other.Self <= 0 || other.Self >= host.Self {
		t.Errorf("self: h %v, other %v", host.Self, other.Self)
	}
	// Start clears what the last run counted.
	p.Start()
	p.Stop()
	if len(p.Funcs(10)) != 0 || p.Calls() != 0 {
		t.Error("Start kept the last run's figures")
	}
}
