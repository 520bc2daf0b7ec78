package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/mdcheck"
)

// readDoc reads a page of docs/.
func readDoc(t *testing.T, name string) *mdcheck.Doc {
	t.Helper()
	data, err := os.ReadFile("../docs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return mdcheck.Parse(string(data))
}

// section returns the section title of a page of docs/.
func section(t *testing.T, page, title string) *mdcheck.Doc {
	t.Helper()
	sec, ok := readDoc(t, page).Section(title)
	if !ok {
		t.Fatalf("docs/%s has no section %q", page, title)
	}
	return sec
}

// docRow is one row of a field table: the field paths of its first cell
// ("consumers[].keys[].not_before" and, for a cell
// "`consumers[].keys[].not_before`, `not_after`", also its sibling
// "consumers[].keys[].not_after") and its other cells.
type docRow struct {
	paths []string
	cells []string
}

// docRows returns the field rows of a section's tables.
func docRows(sec *mdcheck.Doc) []docRow {
	var rows []docRow
	for _, row := range sec.TableRows() {
		spans := mdcheck.CodeSpans(row[0])
		if len(spans) == 0 {
			continue
		}
		first := spans[0]
		parent := ""
		if i := strings.LastIndexByte(first, '.'); i >= 0 {
			parent = first[:i+1]
		}
		r := docRow{paths: []string{first}, cells: row[1:]}
		for _, s := range spans[1:] {
			r.paths = append(r.paths, parent+s)
		}
		rows = append(rows, r)
	}
	return rows
}

// fieldSections are the sections whose tables document the fields, by page.
var fieldSections = map[string]string{"configuration.md": "Fields", "key-store.md": "Configuration", "identity.md": "Configuration"}

// schemaDocs lists every documented field of the schema tables.
func schemaDocs() []fieldDoc {
	var out []fieldDoc
	for _, s := range schemas {
		out = append(out, s.docs()...)
	}
	return out
}

// TestDocsListEveryConfigField: every field of the schema tables has a row
// in its page's field table (an object's field may be documented through
// rows for its members), and every row names a field of the tables.
func TestDocsListEveryConfigField(t *testing.T) {
	documented := map[string][]string{}
	for page, title := range fieldSections {
		for _, r := range docRows(section(t, page, title)) {
			documented[page] = append(documented[page], r.paths...)
		}
		if len(documented[page]) == 0 {
			t.Fatalf("docs/%s, %s: no field rows found", page, title)
		}
	}
	known := map[string]bool{} // every documented path the code accepts
	for _, f := range schemaDocs() {
		ok := false
		for _, d := range documented[f.page] {
			if d == f.path || strings.HasPrefix(d, f.path+".") || strings.HasPrefix(d, f.path+"[].") || strings.HasPrefix(d, f.path+".<name>.") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("configuration field %s is not in the field table of docs/%s", f.path, f.page)
		}
		known[f.page+" "+f.path] = true
	}
	for page, paths := range documented {
		for _, d := range paths {
			if !known[page+" "+d] {
				t.Errorf("docs/%s documents %s, which is not a configuration field", page, d)
			}
		}
	}
}

// docValue normalizes a default as written in docs or in a schema table:
// JSON is compacted and a JSON string unquoted; anything else is kept.
func docValue(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	if str, ok := v.(string); ok {
		return str
	}
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}

// isJSONLiteral reports whether s reads as a JSON value (a default), not
// as a field name such as requests.
func isJSONLiteral(s string) bool { return json.Valid([]byte(s)) }

// defaultInText finds "default X" or "default `X`" in a cell of a page
// whose field tables have no default column.
var defaultInText = regexp.MustCompile("default:? `?([^`\\s,;)]+)`?")

// TestDocsGiveTableDefaults: the docs give every field the default of its
// schema table, call required fields required, and give no default to a
// field whose table has none.
func TestDocsGiveTableDefaults(t *testing.T) {
	rows := map[string]docRow{} // by page and path
	index := map[string]int{}   // of the path in its row
	for page, title := range fieldSections {
		for _, r := range docRows(section(t, page, title)) {
			for i, p := range r.paths {
				rows[page+" "+p], index[page+" "+p] = r, i
			}
		}
	}
	for _, f := range schemaDocs() {
		r, ok := rows[f.page+" "+f.path]
		if !ok || len(r.cells) == 0 {
			continue // documented through its members (TestDocsListEveryConfigField)
		}
		if len(r.cells) == 1 { // no default column: the text says it
			cell := r.cells[0]
			switch m := defaultInText.FindStringSubmatch(cell); {
			case f.required && !strings.HasPrefix(strings.ToLower(cell), "required"):
				t.Errorf("docs/%s: %s is required, and its row does not start so", f.page, f.path)
			case f.def != "" && (m == nil || docValue(m[1]) != docValue(f.def)):
				t.Errorf("docs/%s: %s defaults to %s, and its row does not say \"default %s\"", f.page, f.path, f.def, docValue(f.def))
			}
			continue
		}
		cell := r.cells[0]
		spans := mdcheck.CodeSpans(cell)
		got := cell
		if len(spans) == len(r.paths) {
			got = spans[index[f.page+" "+f.path]]
		} else if len(spans) == 1 {
			got = spans[0]
		}
		switch {
		case f.required && cell != "required":
			t.Errorf("docs/%s: %s is required; its default cell says %q", f.page, f.path, cell)
		case f.def != "" && docValue(got) != docValue(f.def):
			t.Errorf("docs/%s: %s defaults to %s; its default cell says %q", f.page, f.path, f.def, cell)
		case f.def == "" && !f.required && len(spans) > 0 && isJSONLiteral(got):
			t.Errorf("docs/%s: %s has no default in its table; its default cell says %q", f.page, f.path, cell)
		}
	}
}

// TestFieldDocsAreOneLine: every field of the tables has a one-line doc.
func TestFieldDocsAreOneLine(t *testing.T) {
	for _, f := range schemaDocs() {
		if f.doc == "" || strings.Contains(f.doc, "\n") {
			t.Errorf("field %s: doc %q, want one line", f.path, f.doc)
		}
	}
}

// TestDocsListEveryReason: the response contract of docs/configuration.md
// has a row for every denial reason, with its status, and no other.
func TestDocsListEveryReason(t *testing.T) {
	sec := section(t, "configuration.md", "Response contract")
	documented := map[Reason]int{}
	for _, row := range sec.TableRows() {
		if len(row) < 2 {
			continue
		}
		status, err := strconv.Atoi(row[1])
		if err != nil {
			t.Errorf("docs/configuration.md, Response contract: row %q has no status", row)
			continue
		}
		for _, s := range mdcheck.CodeSpans(row[0]) {
			documented[Reason(s)] = status
		}
	}
	var want []Reason
	for _, r := range Reasons() {
		if r == ReasonAllowed {
			continue
		}
		want = append(want, r)
		got, ok := documented[r]
		switch {
		case !ok:
			t.Errorf("reason %s is not in the response contract of docs/configuration.md", r)
		case got != statusOf(r):
			t.Errorf("docs/configuration.md gives reason %s status %d; the code answers %d", r, got, statusOf(r))
		}
	}
	for r := range documented {
		if !slices.Contains(want, r) {
			t.Errorf("docs/configuration.md documents reason %q, which is not a denial reason of the code", r)
		}
	}
}

// TestFieldNamesInternEveryField: fieldNames holds every field of every
// table, and nothing else, so that no path of a known field refers to the
// configuration text.
func TestFieldNamesInternEveryField(t *testing.T) {
	all := map[string]bool{}
	for _, s := range schemas {
		for _, n := range s.names() {
			all[n] = true
			if got, ok := fieldNames[n]; !ok || got != n {
				t.Errorf("field %q is not interned", n)
			}
		}
	}
	for n := range fieldNames {
		if !all[n] {
			t.Errorf("fieldNames holds %q, which no table declares", n)
		}
	}
	if len(schemas) == 0 {
		t.Fatal("no schema tables")
	}
}
