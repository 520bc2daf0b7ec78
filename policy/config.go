package policy

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/apiguard/apiguard/policy/keymat"
)

// maxDepth bounds the nesting of the configuration document; the schema
// needs 5 levels.
const maxDepth = 32

// parser collects every error found while reading the configuration.
type parser struct {
	errs  []FieldError
	warns []FieldError
	kept  strings.Builder // the current block of keep
	// misspelt holds the names suggested for unknown top-level fields.
	misspelt map[string]bool
	// suggested holds the paths of the fields suggested for unknown fields
	// at any level: a field reported as misspelt is not also reported as
	// missing under its right name (a follow-on error).
	suggested map[string]bool
	// now, when not zero, is the time against which keys that have
	// already expired are reported (see CompileAt).
	now int64
	// lookupEnv resolves identity_token.signing_key_env (Options).
	lookupEnv func(string) (string, bool)
	// snapConsumers, when not nil, are the consumers of a key snapshot the
	// warnings are judged against (see CompileWithSnapshot).
	snapConsumers []consumer
	snapSets      []*scopeSet // the scope sets snapConsumers index
	// key and consumer are parseKey's and parseConsumer's scratch, keyBuf
	// fastKeys'.
	key      keyParse
	consumer consumerConf
	keyBuf   []keyConf
	// index is the structure of the document checkDocument last accepted,
	// for forEach; nil when it could not be indexed.
	index *docIndex
	// generic turns off the index and the fast path of keys (fastKey):
	// the tests compare the two ways of reading a configuration.
	generic bool
}

// add records an error at path, except that a field "is required" where
// an unknown field was taken for its misspelling: that error is already
// reported, as the unknown field.
func (ps *parser) add(path jsonPath, msg string) {
	if strings.HasPrefix(msg, "is required") && ps.suggested[path.String()] {
		return
	}
	ps.errs = append(ps.errs, fieldError(path, msg))
}

// warn records a warning at path: a valid configuration that is probably
// not what its author meant.
func (ps *parser) warn(path jsonPath, msg string) {
	ps.warns = append(ps.warns, fieldError(path, msg))
}

// fieldError returns the problem msg at path. A path may be a member name
// of the configuration: it is copied, as keep copies.
func fieldError(path jsonPath, msg string) FieldError {
	return FieldError{Path: strings.Clone(path.String()), Msg: msg}
}

// keepBlock is the size of the blocks keep copies strings into.
const keepBlock = 16 << 10

// keep returns a copy of s that shares no memory with the configuration
// text. The strings of a compiled Policy are kept copies, so that the
// configuration, which gjson results are substrings of, can be freed after
// Compile. Short strings are packed into shared blocks to save allocations.
func (ps *parser) keep(s string) string {
	if len(s) > keepBlock/16 {
		return strings.Clone(s)
	}
	if ps.kept.Cap()-ps.kept.Len() < len(s) {
		// Strings returned so far keep the previous block alive.
		ps.kept = strings.Builder{}
		ps.kept.Grow(keepBlock)
	}
	start := ps.kept.Len()
	ps.kept.WriteString(s)
	return ps.kept.String()[start:]
}

// jsonPath is the JSON path of a configuration value, formatted only when
// it is needed (for an error message): a formatted prefix followed by up to
// two segments, each a member name or an array index. The walk makes room
// for the segments of a container's members (see reserve) so that the
// paths of the many values inside array elements, such as
// consumers[i].keys[j].id, are never formatted unless they are reported.
// The zero jsonPath is the root of the document, and stands for "absent"
// where a path is stored for later checks.
type jsonPath struct {
	base string
	n    int // segments in use
	seg  [2]pathSegment
}

// pathSegment is a member name, or an array index when index >= 0.
type pathSegment struct {
	name  string
	index int
}

// member returns the path of member name of the object at p.
func (p jsonPath) member(name string) jsonPath {
	return p.with(pathSegment{name: name, index: -1})
}

// elem returns the path of element i of the array at p.
func (p jsonPath) elem(i int) jsonPath {
	return p.with(pathSegment{index: i})
}

// reserve returns p, with its segments formatted into the prefix unless k
// more segments fit.
func (p jsonPath) reserve(k int) jsonPath {
	if p.n+k > len(p.seg) {
		return jsonPath{base: p.String()}
	}
	return p
}

// with returns p extended by s.
func (p jsonPath) with(s pathSegment) jsonPath {
	p = p.reserve(1)
	p.seg[p.n] = s
	p.n++
	return p
}

// isZero reports whether p is the zero jsonPath (the root).
func (p jsonPath) isZero() bool { return p == jsonPath{} }

// String formats p, such as `consumers[3].keys[0].id`.
func (p jsonPath) String() string {
	s := p.base
	for _, seg := range p.seg[:p.n] {
		if seg.index >= 0 {
			s = indexPath(s, seg.index)
		} else {
			s = joinPath(s, seg.name)
		}
	}
	return s
}

// joinPath returns the JSON path of member name of the object at base.
// Names that are not plain identifiers are quoted: base["a b"].
func joinPath(base, name string) string {
	if !isSimpleName(name) {
		return base + "[" + strconv.Quote(name) + "]"
	}
	if base == "" {
		return name
	}
	return base + "." + name
}

// indexPath returns the JSON path of element i of the array at base.
func indexPath(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}

// isSimpleName reports whether s is a non-empty run of letters, digits, '_'
// and '-'.
func isSimpleName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// quote returns s as a Go-syntax (and JSON-compatible for ASCII) string.
func quote(s string) string { return strconv.Quote(s) }

// typeName names the JSON type of v for error messages.
func typeName(v gjson.Result) string {
	switch v.Type {
	case gjson.Null:
		return "null"
	case gjson.False, gjson.True:
		return "boolean"
	case gjson.Number:
		return "number"
	case gjson.String:
		return "string"
	}
	if v.IsArray() {
		return "array"
	}
	return "object"
}

// object calls fn for each member of the object v at path, in document
// order, and reports duplicate members and members fn does not know (fn
// returns false), suggesting the closest of known (space-separated field
// names). It reports a type error and returns false when v is not an
// object.
func (ps *parser) object(path jsonPath, v gjson.Result, known string, fn func(name string, path jsonPath, v gjson.Result) bool) bool {
	if !v.IsObject() {
		ps.add(path, "must be an object, got "+typeName(v))
		return false
	}
	path = path.reserve(1)
	var seenBuf [16]string
	seen := seenBuf[:0]
	ps.forEach(v, func(k, val gjson.Result) bool {
		name := k.String()
		// Paths are stored in the parsed configuration: their names must not
		// be substrings of the text, so that the text can be freed while the
		// tables are built (see Compile).
		if known, ok := fieldNames[name]; ok {
			name = known
		} else {
			name = ps.keep(name)
		}
		p := path.member(name)
		for _, s := range seen {
			if s == name {
				ps.add(p, "duplicate field")
				return true
			}
		}
		seen = append(seen, name)
		if !fn(name, p, val) {
			msg := "unknown field"
			if s := suggest(name, known); s != "" {
				msg += " (did you mean " + quote(s) + "?)"
				if ps.suggested == nil {
					ps.suggested = map[string]bool{}
				}
				ps.suggested[strings.Clone(path.member(s).String())] = true
				if path.isZero() {
					if ps.misspelt == nil {
						ps.misspelt = map[string]bool{}
					}
					ps.misspelt[s] = true
				}
			}
			ps.add(p, msg)
		}
		return true
	})
	return true
}

// array calls fn for each element of the array v at path.
func (ps *parser) array(path jsonPath, v gjson.Result, fn func(i int, path jsonPath, v gjson.Result)) bool {
	if !v.IsArray() {
		ps.add(path, "must be an array, got "+typeName(v))
		return false
	}
	path = path.reserve(2) // the element and a member of it
	i := 0
	ps.forEach(v, func(_, val gjson.Result) bool {
		fn(i, path.elem(i), val)
		i++
		return true
	})
	return true
}

// str returns the string v, or reports a type error.
func (ps *parser) str(path jsonPath, v gjson.Result) (string, bool) {
	if v.Type != gjson.String {
		ps.add(path, "must be a string, got "+typeName(v))
		return "", false
	}
	return v.String(), true
}

// boolean returns the boolean v, or reports a type error.
func (ps *parser) boolean(path jsonPath, v gjson.Result) (bool, bool) {
	if v.Type != gjson.True && v.Type != gjson.False {
		ps.add(path, "must be a boolean, got "+typeName(v))
		return false, false
	}
	return v.Type == gjson.True, true
}

// integer returns the integer v when it lies in [min, max].
func (ps *parser) integer(path jsonPath, v gjson.Result, min, max int64) (int64, bool) {
	rng := " between " + strconv.FormatInt(min, 10) + " and " + strconv.FormatInt(max, 10)
	if v.Type != gjson.Number {
		ps.add(path, "must be an integer"+rng+", got "+typeName(v))
		return 0, false
	}
	n, err := strconv.ParseInt(v.Raw, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		ps.add(path, "must be an integer"+rng+", got "+v.Raw)
		return 0, false
	}
	if err != nil || n < min || n > max {
		ps.add(path, "must be"+rng+", got "+v.Raw)
		return 0, false
	}
	return n, true
}

// enum returns the string v when it is one of allowed.
func (ps *parser) enum(path jsonPath, v gjson.Result, allowed ...string) (string, bool) {
	s, ok := ps.str(path, v)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	ps.add(path, "must be one of "+quoteList(allowed)+", got "+quote(s))
	return "", false
}

// quoteList renders ["a", "b"] as `"a", "b"`.
func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}

// strList returns the array of strings v; each element is checked with
// check (which reports its own errors) and must not repeat.
func (ps *parser) strList(path jsonPath, v gjson.Result, check func(path jsonPath, s string) bool) ([]string, bool) {
	var out []string
	ok := true
	if !ps.array(path, v, func(i int, p jsonPath, e gjson.Result) {
		s, good := ps.str(p, e)
		if good && check != nil {
			good = check(p, s)
		}
		if good {
			for _, prev := range out {
				if prev == s {
					ps.add(p, "duplicate value "+quote(s))
					good = false
					break
				}
			}
		}
		if !good {
			ok = false
			return
		}
		out = append(out, ps.keep(s))
	}) {
		return nil, false
	}
	return out, ok
}

// checkDocument reports whether data is a usable JSON document: not empty,
// syntactically valid, not nested deeper than maxDepth.
//
// A document that is usable is indexed (ps.index) in the same pass.
func (ps *parser) checkDocument(data []byte) bool {
	if !ps.generic {
		var ok bool
		if ps.index, ok = indexDocument(data); ok {
			return true
		}
		ps.index = nil
	}
	// Say what is wrong, as before there was an index.
	if len(bytes.TrimSpace(data)) == 0 {
		ps.add(jsonPath{}, "configuration is empty")
		return false
	}
	if depth := nestingDepth(data); depth > maxDepth {
		ps.add(jsonPath{}, "configuration is nested more than "+strconv.Itoa(maxDepth)+" levels deep")
		return false
	}
	if !gjson.ValidBytes(data) {
		msg := "configuration is not valid JSON"
		if off, why, ok := syntaxError(data); ok {
			msg += " (at byte offset " + strconv.Itoa(off) + ": " + why + ")"
		}
		ps.add(jsonPath{}, msg)
		return false
	}
	return true
}

// nestingDepth returns the maximum nesting of arrays and objects in data,
// ignoring brackets inside strings. It tolerates invalid JSON.
func nestingDepth(data []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth--
		}
	}
	return deepest
}

// isToken reports whether s is a non-empty RFC 9110 token (header names,
// methods, authentication schemes).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// isVisibleASCII reports whether s consists only of visible ASCII
// characters (keymat.VisibleASCII).
func isVisibleASCII(s string) bool { return keymat.VisibleASCII(s) }

// isScope reports whether s is an OAuth-style scope token: visible ASCII
// without '"' and '\' (RFC 6749, section 3.3).
func isScope(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return s != ""
}

// isPolicyName reports whether s can name a rate-limit policy: letters,
// digits and "-_.:~", so that it is safe in bucket keys and headers.
func isPolicyName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isUnreserved(c) && c != ':' {
			return false
		}
	}
	return true
}

// isIdentifier reports whether s can be a consumer or key id: 1 to 256
// visible ASCII characters, so that it is a valid header value.
func isIdentifier(s string) bool {
	return s != "" && len(s) <= 256 && isVisibleASCII(s)
}
