package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/policy/keymat"
)

// TestDuplicateIDsAmongMany: among thousands of consumers and keys, every
// consumer id and key id used again is reported at the later use, naming
// the first, and nothing else is; an id refused once is not remembered
// again (a third use names the first, too).
func TestDuplicateIDsAmongMany(t *testing.T) {
	const n = 3000
	var b strings.Builder
	b.WriteString(`{"consumers": [`)
	cid := func(i int) string {
		switch i {
		case 1700, 2900:
			return "c17" // consumer 17's id again
		case 2500:
			return "c2499"
		}
		return fmt.Sprintf("c%d", i)
	}
	kid := func(i, k int) string {
		switch {
		case i == 2000 && k == 1:
			return "k5-0"
		case i == 2999 && k == 0:
			return "k2998-1"
		}
		return fmt.Sprintf("k%d-%d", i, k)
	}
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id": %q, "keys": [{"id": %q, "sha256": %q}, {"id": %q, "sha256": %q}]}`, cid(i),
			kid(i, 0), keymat.Hash(fmt.Sprint("a", i)), kid(i, 1), keymat.Hash(fmt.Sprint("b", i)))
	}
	b.WriteString(`]}`)
	_, err := Compile([]byte(b.String()))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Compile: %v, want a *ConfigError", err)
	}
	var got []string
	for _, e := range ce.Errors {
		got = append(got, e.Error())
	}
	want := []string{
		`consumers[1700].id: duplicate consumer id "c17" (also consumers[17])`,
		`consumers[2000].keys[1].id: duplicate key id "k5-0" (also consumers[5].keys[0])`,
		`consumers[2500].id: duplicate consumer id "c2499" (also consumers[2499])`,
		`consumers[2900].id: duplicate consumer id "c17" (also consumers[17])`,
		`consumers[2999].keys[0].id: duplicate key id "k2998-1" (also consumers[2998].keys[1])`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
