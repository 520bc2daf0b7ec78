package policy

import (
	"go/ast"
	goparser "go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// TestEveryReasonConstantIsInTheTable: each Reason constant of reasons.go
// is a row of reasonTable, so that a new reason cannot be declared without
// its status and title (and, through Reasons, its counter and its row in
// docs/configuration.md, which docs_test.go checks).
func TestEveryReasonConstantIsInTheTable(t *testing.T) {
	f, err := goparser.ParseFile(token.NewFileSet(), "reasons.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok || len(vs.Values) != 1 {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Reason" {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok {
			t.Fatalf("%s is not a string literal", vs.Names[0].Name)
		}
		v, _ := strconv.Unquote(lit.Value)
		n++
		if !slices.Contains(Reasons(), Reason(v)) {
			t.Errorf("%s (%q) is not in reasonTable", vs.Names[0].Name, v)
		}
		return true
	})
	if n == 0 || n != len(reasonTable) {
		t.Errorf("reasons.go declares %d Reason constants, reasonTable has %d rows", n, len(reasonTable))
	}
}

// TestReasonIndex: ReasonIndex gives each reason its position in Reasons,
// and -1 to anything else.
func TestReasonIndex(t *testing.T) {
	for i, r := range Reasons() {
		if got := ReasonIndex(r); got != i {
			t.Errorf("ReasonIndex(%q) = %d, want %d", r, got, i)
		}
	}
	for _, r := range []Reason{"", ReasonInternalError, "Allowed"} {
		if got := ReasonIndex(r); got != -1 {
			t.Errorf("ReasonIndex(%q) = %d, want -1", r, got)
		}
	}
}
