package policy

import (
	"os"
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

// docFieldPaths returns the field paths of the first column of a section's
// tables: "consumers[].keys[].not_before" and, for a cell
// "`consumers[].keys[].not_before`, `not_after`", also its sibling
// "consumers[].keys[].not_after".
func docFieldPaths(sec *mdcheck.Doc) []string {
	var paths []string
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
		paths = append(paths, first)
		for _, s := range spans[1:] {
			paths = append(paths, parent+s)
		}
	}
	return paths
}

// configObjects are the objects of the configuration with the code's list
// of their fields (config_sections.go), the path their fields have in the
// docs, and the page that documents them.
var configObjects = []struct {
	fields, prefix, page string
}{
	{rootFields, "", "configuration.md"},
	{sourceFields, "key_sources[].", "configuration.md"},
	{formatFields, "key_format.", "configuration.md"},
	{consumerFields, "consumers[].", "configuration.md"},
	{keyFields, "consumers[].keys[].", "configuration.md"},
	{routeFields, "routes[].", "configuration.md"},
	{profileFields, "pagination.<name>.", "configuration.md"},
	{limitFields, "rate_limits.<name>.", "configuration.md"},
	{forwardFields, "forward.", "configuration.md"},
	{quotaFields, "quotas.<name>.", "configuration.md"},
	{keyStoreFields, "key_store.", "key-store.md"},
	{keyPolicyFields, "key_policy.", "configuration.md"},
	{cursorSealFields, "pagination.<name>.cursor_seal.", "configuration.md"},
	{identityTokenFields, "identity_token.", "identity.md"},
}

// fieldSections are the sections whose tables document the fields, by page.
var fieldSections = map[string]string{"configuration.md": "Fields", "key-store.md": "Configuration", "identity.md": "Configuration"}

// TestDocsListEveryConfigField: every field the parser accepts has a row in
// its page's field table (an object's field may be documented through rows
// for its members), and every row names a field the parser accepts.
func TestDocsListEveryConfigField(t *testing.T) {
	documented := map[string][]string{}
	for page, title := range fieldSections {
		documented[page] = docFieldPaths(section(t, page, title))
		if len(documented[page]) == 0 {
			t.Fatalf("docs/%s, %s: no field rows found", page, title)
		}
	}
	known := map[string]bool{} // every documented path the code accepts
	for _, o := range configObjects {
		for _, f := range strings.Fields(o.fields) {
			p := o.prefix + f
			ok := false
			for _, d := range documented[o.page] {
				if d == p || strings.HasPrefix(d, p+".") || strings.HasPrefix(d, p+"[].") || strings.HasPrefix(d, p+".<name>.") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("configuration field %s is not in the field table of docs/%s", p, o.page)
			}
			known[o.page+" "+p] = true
		}
	}
	for page, paths := range documented {
		for _, d := range paths {
			if !known[page+" "+d] {
				t.Errorf("docs/%s documents %s, which is not a configuration field", page, d)
			}
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

// TestFieldListsCoverFieldNames: the field lists the docs test reads
// cover every name of fieldNames, the configuration contract's own list, so
// that a field known to one and not the other cannot escape the docs test.
func TestFieldListsCoverFieldNames(t *testing.T) {
	listed := map[string]bool{}
	for _, o := range configObjects {
		for _, f := range strings.Fields(o.fields) {
			listed[f] = true
		}
	}
	for name := range fieldNames {
		if !listed[name] {
			t.Errorf("field %q is in fieldNames but in no field list of config_sections.go", name)
		}
	}
}
