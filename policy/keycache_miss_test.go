package policy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/policy/keymat"
)

// missedKey reports why p's cache remembers refusing key, if it does.
func missedKey(p *Policy, key string) (Reason, bool) {
	var e keyEntry
	_, refused := p.cache.recall(p, key, &e)
	return refused, refused != ""
}

// strangerKey is a well-formed key no example policy knows.
func strangerKey(t *testing.T, seed string) string {
	t.Helper()
	k, err := keymat.Generate("agk_", strings.NewReader(strings.Repeat(seed, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMissCacheRemembersRefusals: unknown and malformed keys are
// remembered with their reason and refused again the same way without an
// allocation; keys too long to remember are still refused; known keys
// never enter the table of refusals.
func TestMissCacheRemembersRefusals(t *testing.T) {
	p, keys := loadExample(t)
	long := "agk_" + strings.Repeat("b", maxMissKey)
	tests := []struct {
		name       string
		key        string
		reason     Reason
		remembered bool
	}{
		{"unknown key", strangerKey(t, "0123456789"), ReasonUnknown, true},
		{"malformed key", "agk_" + strings.Repeat("a", 40), ReasonMalformed, true},
		{"key longer than maxMissKey", long, ReasonMalformed, false},
		{"valid key", keys["billing-2026"], ReasonAllowed, false},
		{"revoked key", keys["billing-2025"], ReasonRevoked, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get("/v1/orders/42", "x-api-key", tt.key)
			first := p.Decide(r)
			if first.Reason != tt.reason {
				t.Fatalf("reason %s, want %s", first.Reason, tt.reason)
			}
			reason, ok := missedKey(p, tt.key)
			if ok != tt.remembered || ok && reason != tt.reason {
				t.Fatalf("remembered %v (%s), want %v (%s)", ok, reason, tt.remembered, tt.reason)
			}
			for range 3 {
				if again := p.Decide(r); !reflect.DeepEqual(again, first) {
					t.Fatalf("repeat decision %+v, first %+v", again, first)
				}
			}
			if n := testing.AllocsPerRun(20, func() { p.Decide(r) }); tt.remembered && n != 0 {
				t.Errorf("a remembered refusal allocates %v times", n)
			}
		})
	}
}

// TestMissCacheNeverAnswersForAnotherKey: keys that share a slot, differ
// in one byte or in length are each decided on their own, and a flood of
// refused keys leaves a known key accepted.
func TestMissCacheNeverAnswersForAnotherKey(t *testing.T) {
	p, keys := loadExample(t)
	known := keys["billing-2026"]
	base := strangerKey(t, "5555555555")
	var refused []string
	for i := range 3 * missSlots {
		// One byte changed, and the length changed, around the known key.
		k := base[:len(base)-2] + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
		refused = append(refused, k, k[:len(k)-1])
		if o := known[:len(known)-1] + string(rune('A'+i%26)); o != known {
			refused = append(refused, o)
		}
	}
	for round := range 2 {
		for _, k := range refused {
			if d := p.Decide(get("/v1/orders/42", "x-api-key", k)); d.Allow {
				t.Fatalf("round %d: %q allowed (%s)", round, k, d.Reason)
			}
		}
		if d := p.Decide(get("/v1/orders/42", "x-api-key", known)); d.Reason != ReasonAllowed {
			t.Fatalf("round %d: the known key after a flood of refused ones: %s", round, d.Reason)
		}
	}
	// Two keys in one slot: the second is not answered by the first's entry.
	a := strangerKey(t, "1111111111")
	p.Decide(get("/v1/orders/42", "x-api-key", a))
	slot := slotOf(p.cache.seed, a) & (missSlots - 1)
	for i := range 1 << 16 {
		b := a[:len(a)-3] + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
		if b == a || slotOf(p.cache.seed, b)&(missSlots-1) != slot {
			continue
		}
		if _, ok := missedKey(p, b); ok {
			t.Fatalf("%q answered from the slot of %q", b, a)
		}
		return
	}
	t.Fatal("no key of the same slot found")
}

// TestMissCacheNotCarriedOver: a Policy made from another (a key snapshot
// swapped in copies the one serving) does not answer from the other's
// refusals: the index may hold the key now.
func TestMissCacheNotCarriedOver(t *testing.T) {
	p, keys := loadExample(t)
	stranger := strangerKey(t, "9876543210")
	if d := p.Decide(get("/v1/orders/42", "x-api-key", stranger)); d.Reason != ReasonUnknown {
		t.Fatal(d.Reason)
	}
	np := *p
	if _, ok := missedKey(&np, stranger); ok {
		t.Error("a copied policy answered from its original's refusals")
	}
	np.Decide(get("/v1/orders/42", "x-api-key", keys["billing-2026"]))
	if _, ok := missedKey(p, stranger); ok {
		t.Error("the original's refusals survived the copy's use")
	}
}
