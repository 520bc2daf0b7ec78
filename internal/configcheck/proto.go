package configcheck

import (
	namesuggest "github.com/apiguard/apiguard/internal/suggest"

	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// strict is protojson with unknown fields rejected.
var strict = protojson.UnmarshalOptions{DiscardUnknown: false}

// decodeStrict decodes the tree value v, found at path, into msg. When
// protojson refuses it, the returned problems name every deepest path that
// is wrong, each unknown field and bad value of the file in one run
// (protojson itself stops at the first, with a byte offset in JSON the user
// never wrote).
func decodeStrict(t *tree, v any, path string, msg proto.Message) []Problem {
	data, err := json.Marshal(v)
	if err != nil {
		return []Problem{{Path: path, Line: t.line(path), Msg: err.Error()}}
	}
	err = strict.Unmarshal(data, msg)
	if err == nil {
		return nil
	}
	var probs []Problem
	locate(msg.ProtoReflect().Descriptor(), v, path, &probs)
	if len(probs) == 0 {
		return []Problem{{Path: path, Line: t.line(path), Msg: cleanProtoErr(err)}}
	}
	for i := range probs {
		probs[i].Line = t.line(probs[i].Path)
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
	return probs
}

var protoErrNoise = regexp.MustCompile(`^proto:\s*|\(line \d+:\d+\):?\s*`)

// cleanProtoErr strips protojson's package prefix and the offset into the
// re-encoded JSON, which would only mislead.
// Long messages (protojson quotes the offending value, which may be a
// whole embedded configuration) are cut.
func cleanProtoErr(err error) string {
	const max = 200
	msg := strings.TrimSpace(protoErrNoise.ReplaceAllString(err.Error(), ""))
	if len(msg) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// newOf returns a fresh message of the type md describes.
func newOf(md protoreflect.MessageDescriptor) (proto.Message, bool) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil {
		return nil, false
	}
	return mt.New().Interface(), true
}

// tryDecode reports whether v decodes strictly into a message of type md.
func tryDecode(md protoreflect.MessageDescriptor, v any) error {
	m, ok := newOf(md)
	if !ok {
		return fmt.Errorf("type %s is not linked into this program", md.FullName())
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return strict.Unmarshal(data, m)
}

// wktJSON lists the well-known types whose JSON form is not an object of
// their fields; locate leaves them to protojson.
var wktJSON = map[protoreflect.FullName]bool{
	"google.protobuf.Duration": true, "google.protobuf.Timestamp": true,
	"google.protobuf.FieldMask": true, "google.protobuf.Struct": true,
	"google.protobuf.Value": true, "google.protobuf.ListValue": true,
	"google.protobuf.Empty":       true,
	"google.protobuf.DoubleValue": true, "google.protobuf.FloatValue": true,
	"google.protobuf.Int64Value": true, "google.protobuf.UInt64Value": true,
	"google.protobuf.Int32Value": true, "google.protobuf.UInt32Value": true,
	"google.protobuf.BoolValue": true, "google.protobuf.StringValue": true,
	"google.protobuf.BytesValue": true,
}

// locate appends to probs the deepest places in v (a message of type md at
// path) that do not decode, each with why: every unknown field and bad value,
// not only the first. It appends nothing when v decodes.
func locate(md protoreflect.MessageDescriptor, v any, path string, probs *[]Problem) {
	add := func(p string, format string, args ...any) {
		*probs = append(*probs, Problem{Path: p, Msg: fmt.Sprintf(format, args...)})
	}
	if md.FullName() == "google.protobuf.Any" {
		locateAny(v, path, probs)
		return
	}
	if wktJSON[md.FullName()] {
		if err := tryDecode(md, v); err != nil {
			add(path, "invalid %s: %s", md.FullName(), cleanProtoErr(err))
		}
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		if v != nil {
			add(path, "expected a mapping (%s), found %s", md.FullName(), jsonKind(v))
		}
		return
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	before := len(*probs)
	for _, k := range keys {
		fpath := joinKey(path, k)
		fd := fieldByJSONOrName(md, k)
		if fd == nil {
			msg := fmt.Sprintf("unknown field %q in %s", k, md.FullName())
			if s := suggest(md, k); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			add(fpath, "%s", msg)
			continue
		}
		n := len(*probs)
		locateField(fd, obj[k], fpath, probs)
		if len(*probs) > n {
			continue
		}
		if err := tryDecode(md, map[string]any{k: obj[k]}); err != nil {
			add(fpath, "%s", cleanProtoErr(err))
		}
	}
	// A problem of the message as a whole (oneof fields set together), only
	// when its fields are fine: otherwise it would repeat them.
	if len(*probs) == before {
		if err := tryDecode(md, v); err != nil {
			add(path, "%s", cleanProtoErr(err))
		}
	}
}

// locateField checks the value of one field.
func locateField(fd protoreflect.FieldDescriptor, v any, path string, probs *[]Problem) {
	if v == nil {
		return
	}
	switch {
	case fd.IsMap():
		m, ok := v.(map[string]any)
		if !ok {
			*probs = append(*probs, Problem{Path: path, Msg: fmt.Sprintf("expected a mapping, found %s", jsonKind(v))})
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			locateSingle(fd.MapValue(), m[k], joinKey(path, k), probs)
		}
	case fd.IsList():
		l, ok := v.([]any)
		if !ok {
			*probs = append(*probs, Problem{Path: path, Msg: fmt.Sprintf("expected a list, found %s", jsonKind(v))})
			return
		}
		for i, item := range l {
			locateSingle(fd, item, fmt.Sprintf("%s[%d]", path, i), probs)
		}
	default:
		locateSingle(fd, v, path, probs)
	}
}

// locateSingle checks one value of a field's type (an item for lists).
func locateSingle(fd protoreflect.FieldDescriptor, v any, path string, probs *[]Problem) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		locate(fd.Message(), v, path, probs)
	case protoreflect.EnumKind:
		s, ok := v.(string)
		if !ok || fd.Enum().FullName() == "google.protobuf.NullValue" {
			return // numbers are checked by protojson
		}
		if fd.Enum().Values().ByName(protoreflect.Name(s)) == nil {
			vals := fd.Enum().Values()
			names := make([]string, vals.Len())
			for i := range names {
				names[i] = string(vals.Get(i).Name())
			}
			*probs = append(*probs, Problem{Path: path, Msg: fmt.Sprintf("invalid value %q for enum %s; valid values: %s",
				s, fd.Enum().FullName(), strings.Join(names, ", "))})
		}
	}
}

// locateAny checks an Any in its JSON form: "@type" plus the fields of the
// packed message (or "value" for well-known types).
func locateAny(v any, path string, probs *[]Problem) {
	add := func(p, msg string) { *probs = append(*probs, Problem{Path: p, Msg: msg}) }
	obj, ok := v.(map[string]any)
	if !ok {
		add(path, fmt.Sprintf("expected a mapping with \"@type\", found %s", jsonKind(v)))
		return
	}
	url, _ := obj["@type"].(string)
	if url == "" {
		add(path, `missing "@type" (the type URL of the packed configuration)`)
		return
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if err != nil {
		add(joinKey(path, "@type"), fmt.Sprintf(
			"unknown type %q: not an Envoy/Istio type this validator knows (misspelt, or an extension it does not link)", url))
		return
	}
	md := mt.Descriptor()
	rest := make(map[string]any, len(obj))
	for k, val := range obj {
		if k != "@type" {
			rest[k] = val
		}
	}
	if wktJSON[md.FullName()] {
		n := len(*probs)
		for _, k := range slices.Sorted(maps.Keys(rest)) {
			if k != "value" {
				add(joinKey(path, k), fmt.Sprintf("unknown field %q in %s (only \"value\" is allowed)", k, md.FullName()))
			}
		}
		if len(*probs) == n {
			locate(md, rest["value"], joinKey(path, "value"), probs)
		}
		return
	}
	locate(md, rest, path, probs)
}

// fieldByJSONOrName finds a field by its proto name or its JSON name, the
// two spellings protojson (and Envoy) accept.
func fieldByJSONOrName(md protoreflect.MessageDescriptor, k string) protoreflect.FieldDescriptor {
	if fd := md.Fields().ByName(protoreflect.Name(k)); fd != nil {
		return fd
	}
	return md.Fields().ByJSONName(k)
}

// suggest returns the field name of md closest to k, if one is close enough
// to be a likely misspelling.
func suggest(md protoreflect.MessageDescriptor, k string) string {
	best, bestD := "", 3
	if len(k) <= 4 {
		bestD = 2
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		for _, name := range []string{string(fd.Name()), fd.JSONName()} {
			if d := editDistance(strings.ToLower(k), strings.ToLower(name)); d < bestD {
				best, bestD = string(fd.Name()), d
			}
		}
	}
	return best
}

// editDistance is suggest.Distance.
func editDistance(a, b string) int { return namesuggest.Distance(a, b) }

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a number"
}

// pgvValidator is implemented by messages generated with
// protoc-gen-validate.
type pgvValidator interface{ ValidateAll() error }

// pgvError is implemented by every generated *ValidationError.
type pgvError interface {
	Field() string
	Reason() string
	Cause() error
	Key() bool
}

// validateTree runs the protoc-gen-validate rules of msg and of every
// message packed in an Any below it (ValidateAll stops at an Any), and
// returns the violations with paths starting at path.
func validateTree(t *tree, msg proto.Message, path string) []Problem {
	var probs []Problem
	if v, ok := msg.(pgvValidator); ok {
		if err := v.ValidateAll(); err != nil {
			probs = append(probs, pgvProblems(t, err, path)...)
		}
	}
	forEachAny(msg.ProtoReflect(), path, func(apath string, a *anypb.Any) {
		inner, err := a.UnmarshalNew()
		if err != nil {
			probs = append(probs, Problem{Path: apath, Line: t.line(apath), Msg: "cannot unpack: " + cleanProtoErr(err)})
			return
		}
		probs = append(probs, validateTree(t, inner, apath)...)
	})
	return probs
}

// pgvProblems flattens a ValidateAll error into problems.
func pgvProblems(t *tree, err error, path string) []Problem {
	if m, ok := err.(interface{ AllErrors() []error }); ok {
		var probs []Problem
		for _, e := range m.AllErrors() {
			probs = append(probs, pgvProblems(t, e, path)...)
		}
		return probs
	}
	pe, ok := err.(pgvError)
	if !ok {
		return []Problem{{Path: path, Line: t.line(path), Msg: err.Error()}}
	}
	p := joinPath(path, snakeField(pe.Field()))
	if c := pe.Cause(); c != nil {
		if _, nested := c.(pgvError); nested {
			return pgvProblems(t, c, p)
		}
		if _, nested := c.(interface{ AllErrors() []error }); nested {
			return pgvProblems(t, c, p)
		}
		return []Problem{{Path: p, Line: t.line(p), Msg: pe.Reason() + ": " + c.Error()}}
	}
	return []Problem{{Path: p, Line: t.line(p), Msg: pe.Reason()}}
}

// snakeField turns a PGV field name such as "HttpFilters[2]" into the
// proto spelling "http_filters[2]".
func snakeField(f string) string {
	name, idx, _ := strings.Cut(f, "[")
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	if idx != "" {
		b.WriteString("[" + idx)
	}
	return b.String()
}

// forEachAny calls fn for every populated google.protobuf.Any directly
// below m (not inside other Anys), with its path.
func forEachAny(m protoreflect.Message, path string, fn func(string, *anypb.Any)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fpath := joinKey(path, string(fd.Name()))
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				visitMessage(mv.Message(), joinKey(fpath, k.String()), fn)
				return true
			})
		case fd.IsList():
			if fd.Message() == nil {
				return true
			}
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visitMessage(l.Get(i).Message(), fmt.Sprintf("%s[%d]", fpath, i), fn)
			}
		case fd.Message() != nil:
			visitMessage(v.Message(), fpath, fn)
		}
		return true
	})
}

func visitMessage(m protoreflect.Message, path string, fn func(string, *anypb.Any)) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		fn(path, a)
		return
	}
	forEachAny(m, path, fn)
}
