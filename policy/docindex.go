package policy

import (
	"encoding/binary"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// A plugin start reads a document of up to tens of megabytes (100k inline
// keys are 18.5 MB). gjson finds the end of a value by scanning it, and
// the parser walks the document level by level (the consumers, each
// consumer's members, its keys, each key's members), so each byte of a key
// was scanned once per level above it. docIndex removes the rescans: the
// syntax check (checkDocument), which reads every byte anyway, records
// where each array and object ends, and the parser's iteration
// (parser.forEach) then steps over a nested array or object in one step.
// The iteration yields exactly the keys and values gjson's ForEach yields
// (TestDocIndexEachAgreesWithGJSON), so every read function, and every
// message and path, is the generic parser's own.

// docIndex is the structure of a syntactically valid document: its arrays
// and objects in the order of their opening brackets.
type docIndex struct {
	doc   string
	spans []span
}

// span is an array or object of the document: the offsets of its opening
// bracket and just past its closing one, and the index in spans of the
// first container after it that is not inside it.
type span struct {
	start, end, next uint32
}

// indexDocument checks that data is one JSON value, nested at most
// maxDepth levels deep, accepting exactly what gjson.Valid accepts
// (TestIndexDocumentAgreesWithGJSON), and returns its index. ok is false
// for anything else, including a document too large or too dense to index
// (see maxSpans): the caller then runs the checks, which say what is
// wrong, if anything, and parses without the index.
func indexDocument(data []byte) (ix *docIndex, ok bool) {
	if len(data) == 0 || uint64(len(data)) >= math.MaxUint32 {
		return nil, false
	}
	ix = &docIndex{doc: unsafe.String(unsafe.SliceData(data), len(data))}
	ix.spans = make([]span, 0, 64)
	var stack [maxDepth]int
	depth := 0
	i := skipSpace(data, 0)
	const (
		value = iota // a value is next
		key          // an object's member name is next
		after        // a value ended
	)
	state := value
	for {
		switch state {
		case key:
			if i, ok = skipName(data, i); !ok {
				return nil, false
			}
			state = value
		case value:
			if i >= len(data) {
				return nil, false
			}
			switch c := data[i]; c {
			case '{', '[':
				if depth == maxDepth {
					return nil, false
				}
				stack[depth] = len(ix.spans)
				depth++
				if !ix.open(i, len(data)) {
					return nil, false
				}
				i, state = skipSpace(data, i+1), value
				if c == '{' {
					state = key
				}
				if i < len(data) && data[i] == c+2 { // '}' or ']'
					state = after
				}
				continue
			case '"':
				i, ok = skipString(data, i+1)
			default:
				i, ok = skipScalar(data, i)
			}
			if !ok {
				return nil, false
			}
			state = after
		case after:
			i = skipSpace(data, i)
			if depth == 0 {
				return ix, i == len(data)
			}
			if i >= len(data) {
				return nil, false
			}
			top := &ix.spans[stack[depth-1]]
			open := data[top.start]
			switch c := data[i]; {
			case c == ',':
				i, state = skipSpace(data, i+1), value
				if open == '{' {
					state = key
				}
			case c == open+2:
				top.end, top.next = uint32(i+1), uint32(len(ix.spans))
				depth--
				i++
			default:
				return nil, false
			}
		}
	}
}

// open records the array or object at offset i of a document of n bytes;
// false when the index would grow past maxSpans.
func (ix *docIndex) open(i, n int) bool {
	if len(ix.spans) == cap(ix.spans) {
		if len(ix.spans) >= maxSpans(n) {
			return false
		}
		// Doubling: append's growth by a quarter would copy a large
		// document's index many times over.
		ix.spans = append(make([]span, 0, 2*cap(ix.spans)), ix.spans...)
	}
	ix.spans = append(ix.spans, span{start: uint32(i)})
	return true
}

// skipName returns the offset of the value of the object member whose
// name is at i, and whether the name and the colon are there.
func skipName(data []byte, i int) (int, bool) {
	if i >= len(data) || data[i] != '"' {
		return i, false
	}
	i, ok := skipString(data, i+1)
	if i = skipSpace(data, i); !ok || i >= len(data) || data[i] != ':' {
		return i, false
	}
	return skipSpace(data, i+1), true
}

// skipScalar returns the offset past the literal or number at i, and
// whether there is one.
func skipScalar(data []byte, i int) (int, bool) {
	switch data[i] {
	case 't':
		return skipLiteral(data, i, "true")
	case 'f':
		return skipLiteral(data, i, "false")
	case 'n':
		return skipLiteral(data, i, "null")
	}
	return skipNumber(data, i)
}

// maxSpans bounds the arrays and objects indexDocument indexes in a
// document of n bytes: at 12 bytes each, the index takes at most about 1.5
// times the document's size (a configuration's objects are tens of bytes
// or more; a document of little else than "[]," is left to gjson).
func maxSpans(n int) int { return n/8 + 64 }

// skipSpace returns the offset of the first byte at or after i that is
// not JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the offset past the string whose opening quote is
// just before i, and whether it is a valid JSON string.
func skipString(data []byte, i int) (int, bool) {
	for i < len(data) {
		// Eight bytes at a time up to a quote, a backslash or a
		// control character: most of a large document is in strings.
		for i+8 <= len(data) {
			if m := stringSpecial(binary.LittleEndian.Uint64(data[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3 // the first such byte
				break
			}
			i += 8
		}
		if i >= len(data) {
			break
		}
		c := data[i]
		switch {
		case c == '"':
			return i + 1, true
		case c < ' ':
			return i, false
		case c == '\\':
			i++
			if i >= len(data) {
				return i, false
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(data) || hexValue(data[i+1]) < 0 || hexValue(data[i+2]) < 0 ||
					hexValue(data[i+3]) < 0 || hexValue(data[i+4]) < 0 {
					return i, false
				}
				i += 5
			default:
				return i, false
			}
		default:
			i++
		}
	}
	return i, false
}

// stringSpecial returns the high bit of each of the eight bytes of x (in
// little-endian order) that is a quote, a backslash or a control character
// (below 0x20), exactly up to the first such byte, or 0 when there is
// none. (A byte v - 1 or v - 0x20 that wraps around sets the high bit;
// the borrow it takes from the next byte can only mark bytes after it.)
func stringSpecial(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	return ((quote-ones)&^quote | (backslash-ones)&^backslash | (x-ones*' ')&^x) & highs
}

// skipLiteral returns the offset past word at i, and whether it is there.
func skipLiteral(data []byte, i int, word string) (int, bool) {
	if len(data)-i < len(word) || string(data[i:i+len(word)]) != word {
		return i, false
	}
	return i + len(word), true
}

// skipNumber returns the offset past the JSON number at i, and whether
// there is one.
func skipNumber(data []byte, i int) (int, bool) {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return i, false
	case data[i] == '0':
		i++
	case isDigit(data[i]):
		i = skipDigits(data, i)
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		if i++; i >= len(data) || !isDigit(data[i]) {
			return i, false
		}
		i = skipDigits(data, i)
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		if i++; i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return i, false
		}
		i = skipDigits(data, i)
	}
	return i, true
}

// skipDigits returns the offset of the first byte at or after i that is
// not a decimal digit.
func skipDigits(data []byte, i int) int {
	for i < len(data) && isDigit(data[i]) {
		i++
	}
	return i
}

// find returns the index in ix.spans of the array or object v, when v is
// one of the document's (a view of its text, as the values gjson.Parse and
// each return are).
func (ix *docIndex) find(v gjson.Result) (int, bool) {
	if v.Type != gjson.JSON || v.Raw == "" || v.Indexes != nil {
		return 0, false
	}
	off := int(uintptr(unsafe.Pointer(unsafe.StringData(v.Raw))) - uintptr(unsafe.Pointer(unsafe.StringData(ix.doc))))
	if off < 0 || off >= len(ix.doc) || len(v.Raw) > len(ix.doc)-off {
		return 0, false
	}
	k := sort.Search(len(ix.spans), func(k int) bool { return int(ix.spans[k].start) >= off })
	if k == len(ix.spans) || int(ix.spans[k].start) != off || int(ix.spans[k].end)-off > len(v.Raw) {
		return 0, false
	}
	return k, true
}

// each calls fn with the key and value of each member or element of v, as
// gjson's v.ForEach does, and reports whether it could: false, having
// called nothing, when v is not an array or object of the document.
func (ix *docIndex) each(v gjson.Result, fn func(k, v gjson.Result) bool) bool {
	k, ok := ix.find(v)
	if !ok {
		return false
	}
	doc, sp := ix.doc, ix.spans[k]
	// gjson's offsets are v.Index plus the offset in v.Raw.
	base := v.Index - int(sp.start)
	obj := doc[sp.start] == '{'
	next := k + 1 // the next nested container
	var key gjson.Result
	if !obj {
		key.Type, key.Num = gjson.Number, -1
	}
	i := skipSpaceString(doc, int(sp.start)+1)
	for doc[i] != '}' && doc[i] != ']' {
		if obj {
			end := stringEnd(doc, i)
			key = stringResult(doc[i:end])
			key.Index = base + i
			i = skipSpaceString(doc, skipSpaceString(doc, end)+1) // past ':'
		} else {
			key.Num++
		}
		var val gjson.Result
		switch c := doc[i]; {
		case c == '{' || c == '[':
			s := ix.spans[next]
			val = gjson.Result{Type: gjson.JSON, Raw: doc[i:s.end]}
			next = int(s.next)
		case c == '"':
			val = stringResult(doc[i:stringEnd(doc, i)])
		case c == 't':
			val = gjson.Result{Type: gjson.True, Raw: doc[i : i+4]}
		case c == 'f':
			val = gjson.Result{Type: gjson.False, Raw: doc[i : i+5]}
		case c == 'n':
			val = gjson.Result{Type: gjson.Null, Raw: doc[i : i+4]}
		default:
			end, _ := skipNumber(unsafe.Slice(unsafe.StringData(doc), len(doc)), i)
			val = gjson.Result{Type: gjson.Number, Raw: doc[i:end]}
			val.Num, _ = strconv.ParseFloat(val.Raw, 64)
		}
		val.Index = base + i
		if !fn(key, val) {
			return true
		}
		if i = skipSpaceString(doc, i+len(val.Raw)); doc[i] == ',' {
			i = skipSpaceString(doc, i+1)
		}
	}
	return true
}

// skipSpaceString is skipSpace on a string.
func skipSpaceString(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the offset past the valid JSON string at i.
func stringEnd(s string, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// stringResult is the gjson value of the valid JSON string raw (quotes
// included).
func stringResult(raw string) gjson.Result {
	if strings.IndexByte(raw, '\\') >= 0 {
		r := gjson.Parse(raw)
		return gjson.Result{Type: gjson.String, Raw: raw, Str: r.Str}
	}
	return gjson.Result{Type: gjson.String, Raw: raw, Str: raw[1 : len(raw)-1]}
}

// forEach is v.ForEach, without rescanning the document's nested arrays
// and objects when the document was indexed (see docIndex).
func (ps *parser) forEach(v gjson.Result, fn func(k, v gjson.Result) bool) {
	if ps.index == nil || !ps.index.each(v, fn) {
		v.ForEach(fn)
	}
}

// count returns the number of elements of the array v, 0 when v is not an
// array.
func (ps *parser) count(v gjson.Result) int {
	n := 0
	if v.IsArray() {
		ps.forEach(v, func(_, _ gjson.Result) bool { n++; return true })
	}
	return n
}
