package policy

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// docIndexSamples are documents, valid and not, that the index must judge
// as gjson and the checks do, and iterate as gjson does.
var docIndexSamples = []string{
	`{}`, `[]`, ` { } `, "\t[ ]\r\n", `{"a":1}`, `[1,2,3]`, `"s"`, `0`, `-0`, `-0.5e+7`, `1E-3`, `true`, `false`, `null`,
	`{"a": {"b": [1, {"c": [[], {}]}, "x"]}, "d": [true, false, null], "e": {}}`,
	`{"k\"ey": "v\\", "\u00e9": "\u0041\n", "a\/b": "\\\""}`,
	`{"a": 1e400, "b": -1e-400, "c": 123456789012345678901234567890, "d": 0.1}`,
	`[{"id": "k", "sha256": "00"}, {"x": [1, [2, [3]]]}, "}", "]", "{"]`,
	`{"a" : 1 , "b":[ 1 , 2 ] , "c" :{ } }`,
	strings.Repeat("[", 32) + strings.Repeat("]", 32),
	`["abcdefghij\u0041klmnopqrstuvwxyz", "0123456789\"0123456789", "0123456789abcdef\\", "\u00e9\u00e9\u00e9\u00e9x"]`,
	"[\"\xff\xfe\x80\x7f0123456789\"]",
	strings.Repeat("[", 33) + strings.Repeat("]", 33),
	strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32),
	// Not valid.
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{a:1}`, `01`, `-`, `1.`, `1e`, `.5`, `+1`, `tru`, `nul`,
	`"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", `"abc`, `{"a":1}x`, `[1 2]`, `{"a":1 "b":2}`, `[`, `["a`, `[1]]`,
	`{"a":[}`, `[{]`, `{"a":1}}`, `nan`, `NaN`, `[-]`, `[1,,2]`, `{,}`, `[,]`, "\xef\xbb\xbf{}",
	strings.Repeat("[", 33) + strings.Repeat("]", 32),
	"[\"0123456789abcdef\x1f\"]", "[\"0123456789abcdef\\q\"]", "[\"0123456789abcdef", "[\"01234567\\",
}

// TestIndexDocumentAgreesWithGJSON: indexDocument accepts exactly the
// documents the checks accept (not empty, nested at most maxDepth levels,
// gjson.Valid), and each yields what gjson's ForEach yields.
func TestIndexDocumentAgreesWithGJSON(t *testing.T) {
	for _, s := range docIndexSamples {
		checkDocIndex(t, []byte(s))
	}
	config, _, _ := benchConfig(t, 100, 10)
	checkDocIndex(t, config)
	// A document of little else than empty arrays is not indexed, and
	// still compiles as without the index.
	dense := []byte(`{"consumers": [` + strings.Repeat("[],", 1000) + `[]]}`)
	if _, ok := indexDocument(dense); ok {
		t.Error("a document of empty arrays was indexed")
	}
	compareCompile(t, dense)
}

func FuzzIndexDocument(f *testing.F) {
	for _, s := range docIndexSamples {
		f.Add([]byte(s))
	}
	f.Add([]byte(fuzzPolicy))
	f.Fuzz(func(t *testing.T, data []byte) { checkDocIndex(t, data) })
}

func checkDocIndex(t *testing.T, data []byte) {
	t.Helper()
	ix, ok := indexDocument(data)
	want := len(bytes.TrimSpace(data)) > 0 && nestingDepth(data) <= maxDepth && gjson.ValidBytes(data)
	if dense := bytes.Count(data, []byte("[")) + bytes.Count(data, []byte("{")); want && !ok && dense > maxSpans(len(data)) {
		return // too dense to index, maybe: checkDocument checks and parses it without the index
	}
	if ok != want {
		t.Fatalf("%q: indexDocument %v, the checks %v", data, ok, want)
	}
	if !ok {
		return
	}
	ps := &parser{index: ix}
	compareEach(t, ps, gjson.Parse(ix.doc))
	// A value that is not a view of the document is not indexed.
	if other := gjson.Parse(string(data)); other.Type == gjson.JSON && ix.each(other, nil) {
		t.Fatalf("%q: a copy of the document was indexed", data)
	}
}

// compareEach compares ps.forEach with gjson's ForEach on v and on every
// array and object in it, also when the iteration stops early.
func compareEach(t *testing.T, ps *parser, v gjson.Result) {
	t.Helper()
	if v.Type != gjson.JSON {
		return
	}
	type member struct{ k, v gjson.Result }
	var want, got []member
	v.ForEach(func(k, val gjson.Result) bool { want = append(want, member{k, val}); return true })
	if !ps.index.each(v, func(k, val gjson.Result) bool { got = append(got, member{k, val}); return true }) {
		t.Fatalf("%.80q: not indexed", v.Raw)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%.80q: each gave %+v, ForEach %+v", v.Raw, got, want)
	}
	n := 0
	ps.forEach(v, func(_, _ gjson.Result) bool { n++; return false })
	if want := min(1, len(want)); n != want {
		t.Fatalf("%.80q: %d calls after returning false, want %d", v.Raw, n, want)
	}
	for _, m := range got {
		compareEach(t, ps, m.v)
	}
}

// TestStringSpecial: the eight-byte test finds the first quote, backslash
// or control character of a word, and only words that have one.
func TestStringSpecial(t *testing.T) {
	special := func(b byte) bool { return b == '"' || b == '\\' || b < ' ' }
	check := func(w []byte) {
		first := -1
		for i := len(w) - 1; i >= 0; i-- {
			if special(w[i]) {
				first = i
			}
		}
		m := stringSpecial(binary.LittleEndian.Uint64(w))
		if got := bits.TrailingZeros64(m) >> 3; m == 0 && first >= 0 || m != 0 && got != first {
			t.Fatalf("%q: mask %x, want the first special byte at %d", w, m, first)
		}
	}
	for pos := range 8 {
		for b := range 256 {
			for _, fill := range []byte{'a', 0xff, 0x80, 0x20, 0x21, 0x7f, 0x00, '"'} {
				w := bytes.Repeat([]byte{fill}, 8)
				w[pos] = byte(b)
				check(w)
			}
		}
	}
	for _, w := range []string{"\xff\xff\xff\xff\xff\xff\xff\xff", "\x80\x7f\x20\x21\xfe\x5b\x5d\x23", "\x00\xff\xff\xff\xff\xff\xff\xff",
		"\xff\xff\xff\xff\xff\xff\xff\\\\", "ab\x1f\"\\\x00cd", "\x20\x20\x20\x20\x20\x20\x20\x1f"} {
		check([]byte(w))
	}
}
