package policy

import (
	"strings"

	"github.com/tidwall/gjson"
)

// The configuration's schema: every JSON object of the configuration
// declares its fields once, in a table of field values next to the feature
// that owns it (routeFields in routes.go, consumerFields in consumers.go,
// ...). From the tables come
//
//   - parsing: readObject walks an object through its table, reporting
//     unknown fields (with a "did you mean" among the table's names),
//     duplicates and missing required fields;
//   - defaults: a field's default is JSON text read by the field's own
//     parser, so a default is written once and is valid by construction
//     (TestSchemaDefaultsParse);
//   - the interning of member names (fieldNames);
//   - the docs check: docs/configuration.md, docs/key-store.md and
//     docs/identity.md list exactly the tables' fields, with the tables'
//     defaults (docs_test.go).
//
// Parsing happens once, at plugin start: the tables are closures, looked
// up by a linear scan of at most a few dozen names.

// field is one member of a configuration object, read into T (the object
// under construction, or the enclosing object for fields such as forward's
// headers).
type field[T any] struct {
	name string
	// read parses the member's value v at path p into t, reporting its
	// problems in ps. It returns whether the field counts as given for
	// required: most fields count whenever present, identifiers only when
	// they are strings (a number is reported as such, and as missing).
	read func(ps *parser, p jsonPath, v gjson.Result, t *T) bool
	// def is the JSON text of the default, read (with read, at the zero
	// path) into every new object before its members; "" for none.
	def string
	// required fields are reported as missing when not given.
	required bool
	// hidden fields are accepted but neither suggested nor documented
	// (Higress's _rules_, which Higress adds itself).
	hidden bool
	// doc is a one-line description; the users' documentation is the
	// field's row in docs/ (docs says where).
	doc string
}

// schema is the table of an object's fields.
type schema[T any] struct {
	// docPath prefixes the fields' names in docs ("consumers[].keys[].")
	// and docPage is the page of docs/ that documents them.
	docPath, docPage string
	fields           []field[T]
	// known lists the names that are not hidden, space-separated, for
	// suggestions; defaults holds each field's parsed def (set by init).
	known    string
	defaults []gjson.Result
}

// given is a set of field indices of a schema.
type given uint64

// readObject reads the object v at path into t through s: the defaults
// first, then every member in document order. It reports unknown and
// duplicate members and missing required fields, and returns false (after
// a type error) when v is not an object.
func readObject[T any](ps *parser, s *schema[T], path jsonPath, v gjson.Result, t *T) bool {
	for i, d := range s.defaults {
		if d.Exists() {
			s.fields[i].read(ps, jsonPath{}, d, t)
		}
	}
	var seen given
	if !ps.object(path, v, s.known, func(name string, p jsonPath, v gjson.Result) bool {
		for i := range s.fields {
			if s.fields[i].name == name {
				if s.fields[i].read(ps, p, v, t) {
					seen |= 1 << i
				}
				return true
			}
		}
		return false
	}) {
		return false
	}
	for i := range s.fields {
		if s.fields[i].required && seen&(1<<i) == 0 {
			ps.add(path.member(s.fields[i].name), "is required")
		}
	}
	return true
}

// fieldDoc is what docs say of one field (docs_test.go).
type fieldDoc struct {
	path, page, def, doc string
	required             bool
}

// anySchema is a schema of any object type.
type anySchema interface {
	prepare()
	docs() []fieldDoc
	names() []string
}

// prepare parses the defaults and lists the known names.
func (s *schema[T]) prepare() {
	var known []string
	s.defaults = make([]gjson.Result, len(s.fields))
	for i, f := range s.fields {
		if !f.hidden {
			known = append(known, f.name)
		}
		if f.def != "" {
			s.defaults[i] = gjson.Parse(f.def)
		}
	}
	s.known = strings.Join(known, " ")
}

// docs lists the documented fields of s.
func (s *schema[T]) docs() []fieldDoc {
	var out []fieldDoc
	for _, f := range s.fields {
		if !f.hidden {
			out = append(out, fieldDoc{path: s.docPath + f.name, page: s.docPage, def: f.def, doc: f.doc, required: f.required})
		}
	}
	return out
}

// names lists the names of every field of s, hidden ones included.
func (s *schema[T]) names() []string {
	out := make([]string, len(s.fields))
	for i, f := range s.fields {
		out[i] = f.name
	}
	return out
}

// schemas are the tables of every object of the configuration.
var schemas []anySchema

// fieldNames holds every field name of the configuration contract, so that
// paths can refer to these strings instead of copies (see parser.object).
var fieldNames = map[string]string{}

func init() {
	schemas = []anySchema{&rootFields, &sourceFields, &formatFields, &consumerFields, &keyFields, &routeFields,
		&profileFields, &cursorSealFields, &limitFields, &forwardFields, &quotaFields, &keyStoreFields,
		&keyPolicyFields, &identityTokenFields}
	for _, s := range schemas {
		s.prepare()
		for _, n := range s.names() {
			fieldNames[n] = n
		}
	}
}

// suggest returns the name of known (space-separated) closest to name, if
// it is close enough to be a likely misspelling: an edit distance of at
// most 2, and less than half of name's length. "" when none is.
//
// It differs from internal/suggest (the CLI's and the manifest checks'),
// which takes no transpositions and suggests names name is a prefix of:
// the configuration's messages, which users and tests rely on, keep their
// rule.
func suggest(name, known string) string {
	best, bestDist := "", 3
	for _, k := range strings.Fields(known) {
		if d := editDistance(name, k); d < bestDist && 2*d < len(name) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b
// (bytes): insertions, deletions, substitutions and transpositions of
// adjacent bytes ("mdoe" is 1 from "mode").
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // not a misspelling of a field name
	}
	var rows [3][65]int
	prev2, prev, cur := rows[0][:len(b)+1], rows[1][:len(b)+1], rows[2][:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
