// Package wasmprof attributes the time a wasm module runs to groups of its
// functions, with wazero's experimental function listeners: the profiling
// mode of the benchmarks (filter/attribution_bench_test.go), used through
// cpphost.Options.Listeners.
//
// A Profiler listens to the functions its rules name (by prefix of the
// name-section name, or "module.name" for a host function), with Hosts to
// the host functions, and with All to every function. Each listened call
// is a frame on the profiler's shadow stack. A group's inclusive time runs
// from entering its outermost frame to leaving it; a frame's self time is
// its time less that of the listened calls it makes, charged to the group
// of the innermost grouped frame on the stack. Functions without a
// listener cost nothing extra, and their time lands in the frame that
// called them.
//
// A listened guest call leaves the compiled code and comes back twice (for
// Before and After), and wazero unwinds the whole native stack for each
// Before: the cost grows with the depth of the call and is added to every
// enclosing frame. Measure a group's inclusive time in a profiler where no
// listened call runs inside it, and subtract half a round trip per call
// (its clock readings fall in the middle of each): the attribution
// benchmark does so, with one profiler per nesting level.
//
// Go's wasm port unwinds the wasm stack when it switches goroutines and
// calls the functions again to resume; every call still returns, so the
// shadow stack stays balanced.
package wasmprof

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// A Rule names a group and the functions that open it: a function belongs
// to the first rule with a prefix of its name (a host function's name is
// "module.name"). A prefix ending in "$" matches the whole name only.
type Rule struct {
	Group    string
	Prefixes []string
}

// HostGroup is the group of the proxy-wasm host's functions ("env") when
// Hosts is set: each is a group of its own, named HostGroup + ": " + name.
const HostGroup = "host call"

// OtherGroup is the group of self time outside every grouped frame.
const OtherGroup = "other"

// Profiler is an experimental.FunctionListenerFactory. It is not safe for
// concurrent use: profile one VM, on one goroutine.
type Profiler struct {
	// All listens to every function, for per-function self times (Funcs);
	// otherwise only to the functions a rule matches, and with Hosts to
	// the host functions. Set them before the module is compiled.
	All, Hosts bool

	rules  []Rule
	on     bool
	base   time.Time
	stack  []frame
	fns    []*fn
	groups []*Group
	index  map[string]int
	calls  uint64
	// matched holds the rule prefixes that matched a function.
	matched map[string]bool
}

// Group is what a group's frames cost while the profiler was on, listener
// overhead included.
type Group struct {
	Name string
	// Calls counts calls of the functions that open the group.
	Calls uint64
	// Self is the self time of the frames charged to the group; Incl the
	// time from entering the group's outermost frame to leaving it.
	Self, Incl time.Duration
	depth      int
}

// Func is one listened function's figures.
type Func struct {
	Name, Group string
	Calls       uint64
	Self, Incl  time.Duration
}

type fn struct {
	name       string
	group      int // -1: inherited from the caller
	calls      uint64
	self, incl int64
	depth      int
}

type frame struct {
	f     *fn
	group int
	start int64
	inner int64 // time of the listened calls made from this frame
}

// New returns a profiler with rules, switched off.
func New(rules []Rule) *Profiler {
	p := &Profiler{rules: rules, base: time.Now(), index: map[string]int{}, matched: map[string]bool{}}
	p.groupIndex(OtherGroup)
	return p
}

func (p *Profiler) groupIndex(name string) int {
	if i, ok := p.index[name]; ok {
		return i
	}
	p.index[name] = len(p.groups)
	p.groups = append(p.groups, &Group{Name: name})
	return len(p.groups) - 1
}

// Start resets every figure and starts counting.
func (p *Profiler) Start() {
	for _, f := range p.fns {
		f.calls, f.self, f.incl = 0, 0, 0
	}
	for _, g := range p.groups {
		g.Calls, g.Self, g.Incl = 0, 0, 0
	}
	p.calls = 0
	p.on = true
}

// Stop stops counting (calls in progress are still popped).
func (p *Profiler) Stop() { p.on = false }

// Calls is the number of listened calls counted since Start.
func (p *Profiler) Calls() uint64 { return p.calls }

// Groups returns every group's figures since Start, in the order the
// groups were first seen.
func (p *Profiler) Groups() []Group {
	out := make([]Group, len(p.groups))
	for i, g := range p.groups {
		out[i] = *g
	}
	return out
}

// Funcs returns the n listened functions with the most self time.
func (p *Profiler) Funcs(n int) []Func {
	var out []Func
	for _, f := range p.fns {
		if f.calls == 0 {
			continue
		}
		g := ""
		if f.group >= 0 {
			g = p.groups[f.group].Name
		}
		out = append(out, Func{Name: f.name, Group: g, Calls: f.calls, Self: time.Duration(f.self), Incl: time.Duration(f.incl)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Self > out[j].Self })
	return out[:min(n, len(out))]
}

// Unmatched returns the rules' prefixes that matched no function of the
// modules compiled with p so far, in the rules' order: a function renamed
// or inlined away, whose row would otherwise read as zero.
func (p *Profiler) Unmatched() []string {
	var out []string
	for _, r := range p.rules {
		for _, pre := range r.Prefixes {
			if !p.matched[pre] {
				out = append(out, r.Group+": "+pre)
			}
		}
	}
	return out
}

// group returns the name of the function def and its group ("" for none).
func (p *Profiler) group(def api.FunctionDefinition) (name, group string, host bool) {
	name = def.Name()
	if def.GoFunction() != nil {
		// A host function: its listener sees every call the guest makes
		// to the import.
		name, host = def.ModuleName()+"."+name, true
		if def.ModuleName() == "env" {
			return name, HostGroup + ": " + def.Name(), true
		}
	}
	for _, r := range p.rules {
		for _, pre := range r.Prefixes {
			if exact, ok := strings.CutSuffix(pre, "$"); ok && name == exact || !ok && strings.HasPrefix(name, pre) {
				p.matched[pre] = true
				return name, r.Group, host
			}
		}
	}
	return name, "", host
}

// NewFunctionListener implements experimental.FunctionListenerFactory.
func (p *Profiler) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	name, group, host := p.group(def)
	switch {
	case p.All:
	case host && !p.Hosts, group == "":
		return nil
	}
	f := &fn{name: name, group: -1}
	if group != "" {
		f.group = p.groupIndex(group)
	}
	p.fns = append(p.fns, f)
	return &listener{p: p, f: f}
}

type listener struct {
	p *Profiler
	f *fn
}

func (l *listener) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
	p := l.p
	fr := frame{f: l.f, group: l.f.group}
	if fr.group < 0 {
		fr.group = 0 // OtherGroup
		if n := len(p.stack); n > 0 {
			fr.group = p.stack[n-1].group
		}
	}
	l.f.depth++
	if l.f.group >= 0 {
		p.groups[l.f.group].depth++
	}
	fr.start = int64(time.Since(p.base))
	p.stack = append(p.stack, fr)
}

func (l *listener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) { l.pop() }

func (l *listener) Abort(context.Context, api.Module, api.FunctionDefinition, error) { l.pop() }

func (l *listener) pop() {
	now := int64(time.Since(l.p.base))
	p := l.p
	n := len(p.stack)
	if n == 0 {
		return
	}
	fr := p.stack[n-1]
	p.stack = p.stack[:n-1]
	fr.f.depth--
	var own *Group
	if fr.f.group >= 0 {
		own = p.groups[fr.f.group]
		own.depth--
	}
	elapsed := now - fr.start
	if n > 1 {
		p.stack[n-2].inner += elapsed
	}
	if !p.on {
		return
	}
	p.calls++
	self := elapsed - fr.inner
	fr.f.calls++
	fr.f.self += self
	if fr.f.depth == 0 {
		fr.f.incl += elapsed
	}
	if own != nil {
		own.Calls++
		if own.depth == 0 {
			own.Incl += time.Duration(elapsed)
		}
	}
	p.groups[fr.group].Self += time.Duration(self)
}
