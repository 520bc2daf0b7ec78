package cpphost

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"
)

// allocatorModule is a module with one memory page and a bump allocator
// exported as proxy_on_memory_allocate (starting at 1024), so that the
// host functions can be called on their own: what each answers is
// cpp-host's and Envoy's semantics, not the filter's.
var allocatorModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // type: (i32)->i32
	0x03, 0x02, 0x01, 0x00, // one function of that type
	0x05, 0x03, 0x01, 0x00, 0x01, // one memory, one page
	0x06, 0x07, 0x01, 0x7f, 0x01, 0x41, 0x80, 0x08, 0x0b, // mutable i32 global = 1024
	0x07, 0x25, 0x02,
	0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00,
	0x18, 'p', 'r', 'o', 'x', 'y', '_', 'o', 'n', '_', 'm', 'e', 'm', 'o', 'r', 'y', '_', 'a', 'l', 'l', 'o', 'c', 'a', 't', 'e', 0x00, 0x00,
	0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x23, 0x00, 0x23, 0x00, 0x20, 0x00, 0x6a, 0x24, 0x00, 0x0b, // return g; g += size
}

// bench is one VM over allocatorModule, with a scratch area for arguments.
type bench struct {
	t    *testing.T
	h    *Host
	vm   *VM
	next uint32 // scratch area, below the allocator's 1024
}

func newBench(t *testing.T, p *Profile, plugin Plugin) *bench {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	h := &Host{ctx: ctx, rt: rt, profile: p, vms: map[string]*VM{}, shared: map[string]map[string]*entry{},
		metrics: map[string]uint64{}}
	mod, err := rt.InstantiateWithConfig(ctx, allocatorModule, wazero.NewModuleConfig().WithName("vm1"))
	if err != nil {
		t.Fatal(err)
	}
	vm := newVM(h, plugin)
	vm.mod = mod
	vm.cur = rootContextID
	h.vms["vm1"] = vm
	return &bench{t: t, h: h, vm: vm, next: 16}
}

// put writes b to the scratch area and returns its address and size.
func (b *bench) put(data []byte) (uint64, uint64) {
	b.t.Helper()
	addr := b.next
	if !b.vm.mod.Memory().Write(addr, data) {
		b.t.Fatal("scratch write")
	}
	b.next += uint32(len(data)) + 8
	if b.next > 1000 {
		b.t.Fatal("scratch area full")
	}
	return uint64(addr), uint64(len(data))
}

// out reserves 8 bytes for an out-parameter.
func (b *bench) out() uint64 { a, _ := b.put(make([]byte, 8)); return a }

func (b *bench) u32(addr uint64) uint32 {
	v, _ := b.vm.mod.Memory().ReadUint32Le(uint32(addr))
	return v
}

// returned reads what give wrote through the (ptr, size) out-parameters.
func (b *bench) returned(ptrOut, sizeOut uint64) string {
	p, n := b.u32(ptrOut), b.u32(sizeOut)
	data, _ := b.vm.mod.Memory().Read(p, n)
	return string(data)
}

// env calls env.<name> as the module would, with the guard of the
// restricted phases, and returns s[0].
func (b *bench) env(name string, args ...uint64) uint64 {
	b.t.Helper()
	fn := envFuncs[name]
	if fn == nil {
		b.t.Fatalf("env.%s is not modelled", name)
	}
	s := append(args, 0)
	b.h.guard("env."+name, b.h.bind(fn))(context.Background(), b.vm.mod, s)
	return s[0]
}

func (b *bench) wasi(name string, args ...uint64) uint64 {
	b.t.Helper()
	s := append(args, 0)
	b.h.guard("wasi_snapshot_preview1."+name, b.h.bind(wasiFuncs[name]))(context.Background(), b.vm.mod, s)
	return s[0]
}

// stream makes a stream current, with request headers, as
// proxy_on_request_headers sees it.
func (b *bench) stream(request ...[2]string) {
	b.vm.cur = rootContextID + 1
	b.vm.request = append([][2]string(nil), request...)
}

// TestHeaderSemantics: Envoy's header-map answers (context.cc at
// 031fa2b): the first value only, remove drops every copy, replace
// removes every copy and adds one, add appends, keys are lower-cased; no
// map in the root context.
func TestHeaderSemantics(t *testing.T) {
	b := newBench(t, Envoy139, Plugin{})
	k, kn := b.put([]byte("X-Id"))
	v2, v2n := b.put([]byte("second"))
	if st := b.env("proxy_add_header_map_value", mapRequestHeaders, k, kn, v2, v2n); st != statusBadArgument {
		t.Errorf("root context: add = %d, want BadArgument", st)
	}
	b.stream([2]string{":path", "/"}, [2]string{"x-id", "first"}, [2]string{"x-id", "again"})
	ptr, size := b.out(), b.out()
	for _, c := range []struct {
		name string
		do   func() uint64
		want uint64
		// after: the request headers then, and the value get returns
		after [][2]string
		get   string
	}{
		{"get is the first value", func() uint64 { return 0 }, statusOK,
			[][2]string{{":path", "/"}, {"x-id", "first"}, {"x-id", "again"}}, "first"},
		{"add appends", func() uint64 { return b.env("proxy_add_header_map_value", mapRequestHeaders, k, kn, v2, v2n) }, statusOK,
			[][2]string{{":path", "/"}, {"x-id", "first"}, {"x-id", "again"}, {"x-id", "second"}}, "first"},
		{"replace drops every copy and adds one", func() uint64 {
			return b.env("proxy_replace_header_map_value", mapRequestHeaders, k, kn, v2, v2n)
		}, statusOK, [][2]string{{":path", "/"}, {"x-id", "second"}}, "second"},
		{"remove drops every copy", func() uint64 { return b.env("proxy_remove_header_map_value", mapRequestHeaders, k, kn) }, statusOK,
			[][2]string{{":path", "/"}}, ""},
	} {
		if st := c.do(); st != c.want {
			t.Errorf("%s: status %d, want %d", c.name, st, c.want)
		}
		if !slices.Equal(b.vm.request, c.after) {
			t.Errorf("%s: headers %q, want %q", c.name, b.vm.request, c.after)
		}
		st := b.env("proxy_get_header_map_value", mapRequestHeaders, k, kn, ptr, size)
		switch {
		case c.get == "" && st != statusNotFound:
			t.Errorf("%s: get = %d, want NotFound", c.name, st)
		case c.get != "" && (st != statusOK || b.returned(ptr, size) != c.get):
			t.Errorf("%s: get = %d %q, want %q", c.name, st, b.returned(ptr, size), c.get)
		}
	}
	if st := b.env("proxy_get_header_map_size", mapRequestHeaders, ptr); st != statusOK || b.u32(ptr) != uint32(len(":path/")) {
		t.Errorf("size = %d, %d; want OK, %d (keys and values only)", st, b.u32(ptr), len(":path/"))
	}
}

// TestSharedDataCAS: cpp-host's SharedData (src/shared_data.cc): CAS 0
// writes unconditionally, a stale token is CasMismatch, every write takes
// a new token, and each vm_id has its own namespace.
func TestSharedDataCAS(t *testing.T) {
	b := newBench(t, Envoy139, Plugin{VMID: "a"})
	k, kn := b.put([]byte("bucket"))
	v1, v1n := b.put([]byte("one"))
	v2, v2n := b.put([]byte("two"))
	ptr, size, cas := b.out(), b.out(), b.out()
	get := func() (uint64, string, uint32) {
		st := b.env("proxy_get_shared_data", k, kn, ptr, size, cas)
		return st, b.returned(ptr, size), b.u32(cas)
	}
	if st, _, _ := get(); st != statusNotFound {
		t.Fatalf("get of an absent key = %d, want NotFound", st)
	}
	if st := b.env("proxy_set_shared_data", k, kn, v1, v1n, 0); st != statusOK {
		t.Fatalf("set with CAS 0 = %d", st)
	}
	st, val, first := get()
	if st != statusOK || val != "one" || first == 0 {
		t.Fatalf("get = %d %q cas %d", st, val, first)
	}
	if st := b.env("proxy_set_shared_data", k, kn, v2, v2n, uint64(first+1)); st != statusCasMismatch {
		t.Errorf("set with a wrong token = %d, want CasMismatch", st)
	}
	if st := b.env("proxy_set_shared_data", k, kn, v2, v2n, uint64(first)); st != statusOK {
		t.Errorf("set with the current token = %d", st)
	}
	if st, val, second := get(); st != statusOK || val != "two" || second == first {
		t.Errorf("after the CAS write: %d %q cas %d (was %d)", st, val, second, first)
	}
	if st := b.env("proxy_set_shared_data", k, kn, v1, v1n, uint64(first)); st != statusCasMismatch {
		t.Errorf("set with the old token = %d, want CasMismatch", st)
	}
	b.vm.plugin.VMID = "b"
	if st, _, _ := get(); st != statusNotFound {
		t.Errorf("vm_id b sees vm_id a's key: %d", st)
	}
}

// TestPropertySemantics: stream properties are NotFound in the root
// context (Envoy has no stream info there); plugin properties are found
// everywhere; proxy_set_property needs a stream (filterstate.go).
func TestPropertySemantics(t *testing.T) {
	b := newBench(t, Envoy139, Plugin{Name: "apiguard"})
	b.vm.Properties["source.address"] = []byte("10.0.0.1:5000")
	src, srcn := b.put([]byte("source\x00address\x00"))
	name, namen := b.put([]byte("plugin_name\x00"))
	val, valn := b.put([]byte("x"))
	ptr, size := b.out(), b.out()
	for _, c := range []struct {
		context string
		path    [2]uint64
		want    uint64
		value   string
	}{
		{"root", [2]uint64{src, srcn}, statusNotFound, ""},
		{"root", [2]uint64{name, namen}, statusOK, "apiguard"},
		{"stream", [2]uint64{src, srcn}, statusOK, "10.0.0.1:5000"},
		{"stream", [2]uint64{name, namen}, statusOK, "apiguard"},
	} {
		if c.context == "stream" {
			b.stream()
		}
		st := b.env("proxy_get_property", c.path[0], c.path[1], ptr, size)
		if st != c.want || (st == statusOK && b.returned(ptr, size) != c.value) {
			t.Errorf("%s: get = %d %q, want %d %q", c.context, st, b.returned(ptr, size), c.want, c.value)
		}
	}
	b.vm.cur = rootContextID
	if st := b.env("proxy_set_property", name, namen, val, valn); st != statusNotFound {
		t.Errorf("set_property in the root context = %d, want NotFound", st)
	}
}

// TestRestrictedPhases: a host call outside the running phase's allow
// list traps and is recorded (V8::registerHostFunctionImpl, src/v8/v8.cc);
// poll_oneoff is allowed in the allocator only from cpp-host #533.
func TestRestrictedPhases(t *testing.T) {
	for _, c := range []struct {
		profile *Profile
		phase   string
		fn      string
		trap    bool
	}{
		{Envoy133, PhaseAllocate, "proxy_log", false},
		{Envoy133, PhaseAllocate, "fd_write", false},
		{Envoy133, PhaseAllocate, "poll_oneoff", true},
		{Envoy139, PhaseAllocate, "poll_oneoff", false},
		{Envoy133, PhaseAllocate, "proxy_get_property", true},
		{Envoy139, PhaseAllocate, "proxy_get_property", true},
		{Envoy133, PhaseInitialize, "random_get", false},
		{Envoy133, PhaseInitialize, "poll_oneoff", true},
		{Envoy139, PhaseInitialize, "poll_oneoff", false},
		{Envoy139, PhaseInitialize, "proxy_set_shared_data", true},
		{Envoy139, "", "proxy_set_shared_data", false},
	} {
		b := newBench(t, c.profile, Plugin{})
		b.vm.phase, b.vm.during = c.phase, "test"
		full, fn := "wasi_snapshot_preview1."+c.fn, wasiFuncs[c.fn]
		if f := envFuncs[c.fn]; f != nil {
			full, fn = "env."+c.fn, f
		}
		var trapped bool
		func() {
			defer func() {
				r := recover()
				var te *trapError
				trapped = r != nil
				if err, ok := r.(error); r != nil && (!ok || !errors.As(err, &te)) {
					t.Errorf("%s %s %s: panic %v, want a trap", c.profile.Name, c.phase, c.fn, r)
				}
			}()
			// Arguments that make every function here return at once.
			s := make([]uint64, 10)
			b.h.guard(full, b.h.bind(fn))(context.Background(), b.vm.mod, s)
		}()
		if trapped != c.trap || (len(b.h.Violations()) == 1) != c.trap {
			t.Errorf("%s, phase %q, %s: trapped %v (violations %v), want %v", c.profile.Name, c.phase, full, trapped, b.h.Violations(), c.trap)
		}
	}
}

// TestWASIAnswers: what each profile's WASI functions answer (src/exports.cc
// at beb8a4e and 94091cd), and context->error (Envoy logs it and the call
// returns).
func TestWASIAnswers(t *testing.T) {
	for _, c := range []struct {
		profile *Profile
		fn      string
		args    []uint64
		want    uint64
		log     string // logged at level 0
	}{
		{Envoy133, "poll_oneoff", []uint64{0, 0, 0, 900}, errnoNosys, ""},
		{Envoy139, "poll_oneoff", []uint64{0, 0, 0, 900}, errnoSuccess, ""},
		{Envoy133, "fd_read", []uint64{0, 0, 0, 900}, errnoNosys, ""},
		{Envoy133, "path_open", make([]uint64, 9), errnoNoent, ""},
		{Envoy133, "fd_prestat_get", []uint64{3, 900}, errnoBadf, ""},
		{Envoy133, "random_get", []uint64{900, randomGetMax + 1}, errnoInval, ""},
		{Envoy133, "clock_time_get", []uint64{2, 0, 900}, errnoNotsup, ""},
		{Envoy133, "fd_seek", []uint64{3, 0, 0, 900}, errnoSuccess, "wasi_unstable fd_seek"},
		{Envoy139, "fd_close", []uint64{3}, errnoSuccess, "wasi_unstable fd_close"},
		{Envoy139, "fd_tell", []uint64{1, 900}, errnoSuccess, ""},
		{Envoy139, "sock_send", make([]uint64, 5), errnoNotsup, ""},
	} {
		b := newBench(t, c.profile, Plugin{})
		if !c.profile.wasi["wasi_snapshot_preview1."+c.fn] {
			t.Errorf("%s does not register %s", c.profile.Name, c.fn)
			continue
		}
		if got := b.wasi(c.fn, c.args...); got != c.want {
			t.Errorf("%s %s = %d, want %d", c.profile.Name, c.fn, got, c.want)
		}
		if logs := b.vm.LogsAt(0); (c.log == "" && len(logs) > 0) || (c.log != "" && !slices.Equal(logs, []string{c.log})) {
			t.Errorf("%s %s logged %q at trace, want %q", c.profile.Name, c.fn, logs, c.log)
		}
	}
	// proc_exit returns to the module as well (no result).
	b := newBench(t, Envoy133, Plugin{})
	s := []uint64{1}
	b.h.bind(wasiFuncs["proc_exit"])(context.Background(), b.vm.mod, s)
	if b.vm.Err() != nil || !slices.Equal(b.vm.LogsAt(0), []string{"wasi_unstable proc_exit"}) {
		t.Errorf("proc_exit: err %v, logs %q", b.vm.Err(), b.vm.LogsAt(0))
	}
}

// TestFdWriteLines: every fd_write is one log line (cpp-host writevImpl,
// src/exports.cc at beb8a4e: the iovecs joined, one trailing newline
// dropped, then one context->log), so a message written in pieces spans
// several lines; stdout logs at info, stderr at error, other descriptors
// are EBADF.
func TestFdWriteLines(t *testing.T) {
	b := newBench(t, Envoy133, Plugin{})
	write := func(fd uint64, parts ...string) uint64 {
		iov := make([]byte, 0, 8*len(parts))
		for _, p := range parts {
			a, n := b.put([]byte(p))
			iov = binary.LittleEndian.AppendUint32(iov, uint32(a))
			iov = binary.LittleEndian.AppendUint32(iov, uint32(n))
		}
		iovs, _ := b.put(iov)
		return b.wasi("fd_write", fd, iovs, uint64(len(parts)), b.out())
	}
	for _, w := range []struct {
		fd    uint64
		parts []string
		want  uint64
	}{
		{2, []string{"fatal error: ", "poll_oneoff failed"}, errnoSuccess}, // one call, one line
		{2, []string{"\n"}, errnoSuccess},                                  // a newline alone: an empty line
		{2, []string{"goroutine 1 [running]:\n\n"}, errnoSuccess},          // one newline dropped
		{1, []string{"hello\n"}, errnoSuccess},
		{3, []string{"x"}, errnoBadf},
	} {
		if got := write(w.fd, w.parts...); got != w.want {
			t.Errorf("fd_write(%d, %q) = %d, want %d", w.fd, w.parts, got, w.want)
		}
	}
	want := []Log{{4, "fatal error: poll_oneoff failed"}, {4, ""}, {4, "goroutine 1 [running]:\n"}, {2, "hello"}}
	if !slices.Equal(b.vm.Logs, want) {
		t.Errorf("log lines %+v, want %+v", b.vm.Logs, want)
	}
}

// TestLocalReplySemantics: proxy_send_local_response records the reply, and
// the headers Envoy then runs proxy_on_response_headers with
// (localReplyHeaders).
func TestLocalReplySemantics(t *testing.T) {
	b := newBench(t, Envoy139, Plugin{})
	b.stream()
	hs, hsn := b.put(encodePairs([][2]string{{"Content-Type", "application/problem+json"}, {"x-a", "1"}}))
	body, bodyn := b.put([]byte(`{"status":401}`))
	details, detailsn := b.put([]byte("apiguard_denied"))
	if st := b.env("proxy_send_local_response", 401, details, detailsn, body, bodyn, hs, hsn, 0); st != statusOK {
		t.Fatalf("send_local_response = %d", st)
	}
	l := b.vm.local
	if l == nil || l.Status != 401 || l.Details != "apiguard_denied" || string(l.Body) != `{"status":401}` {
		t.Fatalf("local reply %+v", l)
	}
	bad, badn := b.put([]byte{9, 0, 0, 0})
	if st := b.env("proxy_send_local_response", 401, 0, 0, 0, 0, bad, badn, 0); st != statusBadArgument {
		t.Errorf("malformed headers: %d, want BadArgument", st)
	}
	for _, c := range []struct {
		name  string
		reply LocalResponse
		want  [][2]string
	}{
		{"with its content type", *l, [][2]string{{":status", "401"}, {"content-type", "application/problem+json"}, {"x-a", "1"}, {"content-length", "14"}}},
		{"default content type", LocalResponse{Status: 429, Body: []byte("slow down")},
			[][2]string{{":status", "429"}, {"content-length", "9"}, {"content-type", "text/plain"}}},
		{"no body", LocalResponse{Status: 204, Headers: [][2]string{{"content-type", "x"}, {"content-length", "3"}, {"x-b", "2"}}},
			[][2]string{{":status", "204"}, {"x-b", "2"}}},
	} {
		if got := localReplyHeaders(&c.reply); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestCanary: one configuration canary per plugin key, run before the
// first VM of that key; its logs are the host's CanaryLogs, and the VMs
// that serve start afterwards.
func TestCanary(t *testing.T) {
	h, err := New(context.Background(), fixture(t, "timer-patched.wasm"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	vm, err := h.NewVM(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := h.Canaries(); n != 1 {
		t.Errorf("after the first VM: %d canaries, want 1", n)
	}
	if _, err := h.StartWorker(Plugin{Name: "apiguard"}); err != nil {
		t.Fatal(err)
	}
	if n := h.Canaries(); n != 1 {
		t.Errorf("a second worker of the same configuration: %d canaries, want 1", n)
	}
	if err := vm.PushConfig([]byte("background")); err != nil {
		t.Fatal(err)
	}
	if n := h.Canaries(); n != 2 {
		t.Errorf("after a configuration push: %d canaries, want 2", n)
	}
	if len(h.vms) != 2 {
		t.Errorf("%d VMs live, want the 2 workers (canaries are gone)", len(h.vms))
	}
}
