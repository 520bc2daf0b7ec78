package policy

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"github.com/tidwall/gjson"
)

// BenchmarkCompilePhases splits Compile of benchConfig's configuration (ten
// keys per consumer, each consumer with its own rate limit, 1000 routes)
// into its phases, natively: check (the JSON syntax check of the whole
// document, which also indexes its arrays and objects), parse (gjson and the sections into the
// config structures), gc (the collection Compile runs between parse and
// build for a large document) and build (the consumers, the key index, the
// routes); phase=all is Compile. The bucket preparation of a plugin start
// (a host call or two per bucket) happens in the filter:
// BenchmarkPluginStartPhases measures it in the .wasm.
func BenchmarkCompilePhases(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		config, _, _ := benchConfig(b, n, 1000)
		root := func() gjson.Result { return gjson.Parse(unsafe.String(unsafe.SliceData(config), len(config))) }
		run := func(phase string, f func(b *testing.B)) {
			b.Run(fmt.Sprintf("keys=%d/phase=%s", n, phase), func(b *testing.B) {
				b.SetBytes(int64(len(config)))
				b.ReportAllocs()
				f(b)
			})
		}
		run("check", func(b *testing.B) {
			for b.Loop() {
				var ps parser
				if !ps.checkDocument(config) {
					b.Fatal(ps.errs)
				}
			}
		})
		// checked returns a parser that has checked (and indexed) config,
		// as Compile's parse starts with.
		checked := func() *parser {
			ps := &parser{}
			if !ps.checkDocument(config) {
				b.Fatal(ps.errs)
			}
			return ps
		}
		run("parse", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				ps := checked()
				b.StartTimer()
				if ps.parseConfig(root()); len(ps.errs) > 0 {
					b.Fatal(ps.errs)
				}
			}
		})
		run("gc", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				ps := checked()
				c := ps.parseConfig(root())
				ps.index = nil
				b.StartTimer()
				runtime.GC()
				runtime.KeepAlive(c)
			}
		})
		run("build", func(b *testing.B) {
			seed := configSeed(config)
			for b.Loop() {
				b.StopTimer()
				ps := checked()
				c := ps.parseConfig(root())
				ps.index = nil
				b.StartTimer()
				if ps.build(c, seed); len(ps.errs) > 0 {
					b.Fatal(ps.errs)
				}
			}
		})
		run("all", func(b *testing.B) {
			for b.Loop() {
				if _, err := Compile(config); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
