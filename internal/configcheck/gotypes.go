package configcheck

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Kubernetes API types that are Go structs (Envoy Gateway's) are decoded
// as the API server does with strict field validation: every field must be
// one of the struct's JSON names, spelt exactly (encoding/json would also
// take other cases, and ignore unknown fields). decodeGo walks the tree
// against the Go type first, so that every unknown field and wrong type is
// reported with its own path, and then decodes with encoding/json.

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decodeGo decodes the tree value v, found at path, into out (a pointer),
// reporting every field the type does not have and every value of the
// wrong JSON type. out is filled only when there is no problem.
func decodeGo(t *tree, v any, path string, out any) []Problem {
	var probs []Problem
	walkGo(reflect.TypeOf(out), v, path, func(p, msg string) {
		probs = append(probs, Problem{Path: p, Line: t.line(p), Msg: msg})
	})
	if len(probs) > 0 {
		return probs
	}
	data, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(data, out)
	}
	if err != nil {
		p := path
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			p = joinPath(path, te.Field)
		}
		return []Problem{{Path: p, Line: t.line(p), Msg: err.Error()}}
	}
	return nil
}

// walkGo checks v against typ.
func walkGo(typ reflect.Type, v any, path string, add func(path, msg string)) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if v == nil {
		return
	}
	pt := reflect.PointerTo(typ)
	if pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler) {
		return // its own format (JSON, Time, Quantity, IntOrString): left to its decoder
	}
	switch typ.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			add(path, fmt.Sprintf("expected a mapping (%s), found %s", typ.Name(), jsonKind(v)))
			return
		}
		fields := jsonFields(typ)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				msg := fmt.Sprintf("unknown field %q in %s", k, typ.Name())
				if s := suggestName(fields, k); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				add(joinKey(path, k), msg)
				continue
			}
			walkGo(ft, obj[k], joinKey(path, k), add)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			add(path, "expected a mapping, found "+jsonKind(v))
			return
		}
		for k, val := range m {
			walkGo(typ.Elem(), val, joinKey(path, k), add)
		}
	case reflect.Slice, reflect.Array:
		if typ.Elem().Kind() == reflect.Uint8 {
			return // []byte: base64 text
		}
		l, ok := v.([]any)
		if !ok {
			add(path, "expected a list, found "+jsonKind(v))
			return
		}
		for i, item := range l {
			walkGo(typ.Elem(), item, fmt.Sprintf("%s[%d]", path, i), add)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			add(path, "expected a string, found "+jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			add(path, "expected true or false, found "+jsonKind(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, uint64, float64:
		default:
			add(path, "expected a number, found "+jsonKind(v))
		}
	}
}

// jsonFields returns the JSON field names of a struct type and their
// types, with the fields of embedded structs (inline) merged in.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && ft.Kind() == reflect.Struct && (name == "" || strings.Contains(opts, "inline")) {
			for k, v := range jsonFields(ft) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// suggestName returns the field name closest to k, if one is close enough
// to be a likely misspelling (or differs only in case).
func suggestName(fields map[string]reflect.Type, k string) string {
	best, bestD := "", 3
	if len(k) <= 4 {
		bestD = 2
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.EqualFold(n, k) {
			return n
		}
		if d := editDistance(strings.ToLower(k), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}
