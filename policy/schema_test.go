package policy

import (
	"errors"
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// schemaPlaces puts a member into each object of the configuration: the
// configuration text around it (%s) and the JSON path of the object.
var schemaPlaces = map[anySchema]struct{ doc, path string }{
	&rootFields:          {`{%s}`, ""},
	&sourceFields:        {`{"key_sources": [{%s}]}`, "key_sources[0]"},
	&formatFields:        {`{"key_format": {%s}}`, "key_format"},
	&consumerFields:      {`{"consumers": [{%s}]}`, "consumers[0]"},
	&keyFields:           {`{"consumers": [{"id": "c", "keys": [{%s}]}]}`, "consumers[0].keys[0]"},
	&routeFields:         {`{"routes": [{%s}]}`, "routes[0]"},
	&profileFields:       {`{"pagination": {"p": {%s}}}`, "pagination.p"},
	&cursorSealFields:    {`{"pagination": {"p": {"cursor_param": "c", "max_cursor_length": 9, "cursor_seal": {%s}}}}`, "pagination.p.cursor_seal"},
	&limitFields:         {`{"rate_limits": {"r": {%s}}}`, "rate_limits.r"},
	&forwardFields:       {`{"forward": {%s}}`, "forward"},
	&quotaFields:         {`{"quotas": {"q": {%s}}}`, "quotas.q"},
	&keyStoreFields:      {`{"key_store": {%s}}`, "key_store"},
	&keyPolicyFields:     {`{"key_policy": {%s}}`, "key_policy"},
	&identityTokenFields: {`{"identity_token": {%s}}`, "identity_token"},
}

// misspell swaps the second and third letters of name ("mode": "mdoe"), or
// drops its last when they are the same.
func misspell(name string) string {
	b := []byte(name)
	if b[1] == b[2] {
		return name[:len(name)-1]
	}
	b[1], b[2] = b[2], b[1]
	return string(b)
}

// TestSchemaSuggestsEveryField: a misspelling of any field of any object
// is reported at its path as an unknown field, suggesting the field. (Names
// of one or two letters, such as id, are too short to guess from.)
func TestSchemaSuggestsEveryField(t *testing.T) {
	if len(schemaPlaces) != len(schemas) {
		t.Fatalf("schemaPlaces covers %d objects, the schema has %d", len(schemaPlaces), len(schemas))
	}
	for s, place := range schemaPlaces {
		for _, f := range s.docs() {
			name := f.path[strings.LastIndexByte(f.path, '.')+1:]
			if len(name) < 3 {
				continue
			}
			wrong := misspell(name)
			_, err := Compile([]byte(fmt.Sprintf(place.doc, quote(wrong)+": null")))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("%s misspelt %q: err %v, want a ConfigError", f.path, wrong, err)
				continue
			}
			want := FieldError{Path: joinPath(place.path, wrong), Msg: "unknown field (did you mean " + quote(name) + "?)"}
			found := false
			for _, e := range ce.Errors {
				found = found || e == want
			}
			if !found {
				t.Errorf("%s misspelt %q: errors %v, want %v", f.path, wrong, ce.Errors, want)
			}
		}
	}
}

// TestSchemaDefaultsParse: every default of every table is valid: read
// into an empty object through the field's own parser, it reports nothing
// (the required fields aside, which are missing from an empty object).
func TestSchemaDefaultsParse(t *testing.T) {
	empty := gjson.Parse(`{}`)
	check := func(name string, read func(ps *parser)) {
		ps := &parser{}
		read(ps)
		for _, e := range ps.errs {
			if e.Msg != "is required" {
				t.Errorf("%s: default: %s", name, e)
			}
		}
		for _, w := range ps.warns {
			t.Errorf("%s: default warns: %s", name, w)
		}
	}
	check("root", func(ps *parser) {
		readObject(ps, &rootFields, jsonPath{}, empty, &config{badLimits: map[string]bool{}, badProfiles: map[string]bool{}})
	})
	check("key_sources[]", func(ps *parser) { readObject(ps, &sourceFields, jsonPath{}, empty, &sourceConf{}) })
	check("key_format", func(ps *parser) { readObject(ps, &formatFields, jsonPath{}, empty, &keyFormat{}) })
	check("consumers[]", func(ps *parser) { readObject(ps, &consumerFields, jsonPath{}, empty, &consumerConf{}) })
	check("keys[]", func(ps *parser) { readObject(ps, &keyFields, jsonPath{}, empty, &keyParse{}) })
	check("routes[]", func(ps *parser) { readObject(ps, &routeFields, jsonPath{}, empty, &routeConf{}) })
	check("pagination", func(ps *parser) {
		readObject(ps, &profileFields, jsonPath{}, empty, &profileParse{pr: &profile{}})
	})
	check("cursor_seal", func(ps *parser) {
		readObject(ps, &cursorSealFields, jsonPath{}, empty, &sealParse{s: &CursorSeal{}})
	})
	check("rate_limits", func(ps *parser) { readObject(ps, &limitFields, jsonPath{}, empty, &Limit{}) })
	check("forward", func(ps *parser) { readObject(ps, &forwardFields, jsonPath{}, empty, &config{}) })
	check("quotas", func(ps *parser) { readObject(ps, &quotaFields, jsonPath{}, empty, &Quota{}) })
	check("key_store", func(ps *parser) { readObject(ps, &keyStoreFields, jsonPath{}, empty, &keyStoreParse{}) })
	check("key_policy", func(ps *parser) { readObject(ps, &keyPolicyFields, jsonPath{}, empty, &keyPolicyParse{}) })
	check("identity_token", func(ps *parser) { readObject(ps, &identityTokenFields, jsonPath{}, empty, &identityConf{}) })
}

// TestSchemaFieldsFitGiven: no table has more fields than readObject's set
// of given fields holds, and no table names a field twice.
func TestSchemaFieldsFitGiven(t *testing.T) {
	for _, s := range schemas {
		names := s.names()
		if len(names) > 64 {
			t.Errorf("a table has %d fields; given holds 64", len(names))
		}
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] {
				t.Errorf("field %q declared twice in one table", n)
			}
			seen[n] = true
		}
	}
}

// TestDefaultsApplied: what the tables' defaults say is what an empty
// configuration compiles to.
func TestDefaultsApplied(t *testing.T) {
	p, err := Compile([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Summary()
	want := Summary{IdentityHeaders: [3]string{"x-apiguard-consumer", "x-apiguard-key-id", "x-apiguard-scopes"},
		QuotaHeader: DefaultQuotaHeader}
	if fmt.Sprint(s) != fmt.Sprint(want) || p.Shadow() || !p.hide || p.unmatched || p.anonBuckets != 1024 ||
		len(p.sources) != 1 || p.sources[0].header != "x-api-key" {
		t.Errorf("Compile({}): summary %+v, hide %v, unmatched %v, anonymous_buckets %d, sources %+v",
			s, p.hide, p.unmatched, p.anonBuckets, p.sources)
	}
}

// TestEveryTableRegistered: every package-level schema table is in
// schemas, so that its names are interned and its fields checked against
// the docs.
func TestEveryTableRegistered(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		declared = append(declared, schemaVars(f)...)
	}
	if len(declared) != len(schemas) {
		t.Errorf("the package declares %d schema tables %v; schemas lists %d", len(declared), declared, len(schemas))
	}
}

// schemaVars returns the names of f's package-level variables that are
// schema tables (var x = schema[T]{...}).
func schemaVars(f *ast.File) []string {
	var out []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, v := range vs.Values {
				cl, ok := v.(*ast.CompositeLit)
				if !ok {
					continue
				}
				if ix, ok := cl.Type.(*ast.IndexExpr); ok {
					if id, ok := ix.X.(*ast.Ident); ok && id.Name == "schema" {
						out = append(out, vs.Names[i].Name)
					}
				}
			}
		}
	}
	return out
}
