package policy

import (
	"os"
	"testing"

	"github.com/apiguard/apiguard/policy/keymat"
)

func TestExampleCompiles(t *testing.T) {
	p, keys := loadExample(t)
	if p.Shadow() || p.LogAllowed() {
		t.Errorf("Shadow() = %v, LogAllowed() = %v; want false, false", p.Shadow(), p.LogAllowed())
	}
	if len(keys) != 3 {
		t.Fatalf("example-keys.txt has %d keys, want 3", len(keys))
	}
	data, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	for id, key := range keys {
		if err := keymat.CheckFormat("agk_", key); err != nil {
			t.Errorf("%s: CheckKeyFormat: %v", id, err)
		}
		if !containsString(string(data), keymat.Hash(key)) {
			t.Errorf("%s: hash of the demo key is not in example.json", id)
		}
	}
	d := p.Decide(get("/v1/orders/42", "x-api-key", keys["billing-2026"]))
	if !d.Allow || d.Identity.Consumer != "billing" || d.Identity.KeyID != "billing-2026" {
		t.Errorf("billing-2026 on get-order: %+v", d)
	}
}

func containsString(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
