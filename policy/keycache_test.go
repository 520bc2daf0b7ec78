package policy

import (
	"github.com/apiguard/apiguard/policy/keymat"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestKeyCacheSameDecisions decides requests twice and more: a repeat key,
// answered from the cache of verified keys, gets the same decision as the
// first time, and only keys the index knows are remembered.
func TestKeyCacheSameDecisions(t *testing.T) {
	p, keys := loadExample(t)
	stranger, err := keymat.Generate("agk_", strings.NewReader(strings.Repeat("0123456789", 20)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		key    string
		reason Reason
		cached bool
	}{
		{"valid key", keys["billing-2026"], ReasonAllowed, true},
		{"revoked key", keys["billing-2025"], ReasonRevoked, true},
		{"key of another consumer", keys["reports-2026"], ReasonAllowed, true},
		{"unknown key", stranger, ReasonUnknown, false},
		{"malformed key", "agk_" + strings.Repeat("a", 40), ReasonMalformed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get("/v1/orders/42", "x-api-key", tt.key)
			first := p.Decide(r)
			if first.Reason != tt.reason {
				t.Fatalf("reason %s, want %s", first.Reason, tt.reason)
			}
			if hit := cachedKey(p, tt.key); hit != tt.cached {
				t.Fatalf("cached after the first request: %v, want %v", hit, tt.cached)
			}
			for range 3 {
				if again := p.Decide(r); !reflect.DeepEqual(again, first) {
					t.Fatalf("repeat decision %+v, first %+v", again, first)
				}
			}
		})
	}
}

// TestKeyCacheChecksTheEntry: a cached key's validity window is still
// checked on every request, so a key remembered while valid expires.
func TestKeyCacheChecksTheEntry(t *testing.T) {
	p, keys := loadExample(t)
	r := get("/v1/orders/42", "x-api-key", keys["billing-2026"])
	r.Now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if d := p.Decide(r); d.Reason != ReasonAllowed {
		t.Fatalf("in the window: %s", d.Reason)
	}
	if hit := cachedKey(p, keys["billing-2026"]); !hit {
		t.Fatal("the key was not remembered")
	}
	r.Now = time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	if d := p.Decide(r); d.Reason != ReasonExpired {
		t.Fatalf("after not_after, from the cache: %s, want %s", d.Reason, ReasonExpired)
	}
}

// TestKeyCacheNotCarriedOver: a Policy made from another (as a key
// snapshot's is, by copying) does not answer from the other's cache, and a
// new Compile starts empty.
func TestKeyCacheNotCarriedOver(t *testing.T) {
	p, keys := loadExample(t)
	key := keys["billing-2026"]
	if d := p.Decide(get("/v1/orders/42", "x-api-key", key)); d.Reason != ReasonAllowed {
		t.Fatal(d.Reason)
	}
	np := *p
	if hit := cachedKey(&np, key); hit {
		t.Error("a copied policy answered from its original's cache")
	}
	if d := np.Decide(get("/v1/orders/42", "x-api-key", key)); d.Reason != ReasonAllowed {
		t.Errorf("copied policy: %s", d.Reason)
	}
	if hit := cachedKey(p, key); hit {
		t.Error("the original's entries survived the copy's use")
	}
	fresh, _ := loadExample(t)
	if hit := cachedKey(fresh, key); hit {
		t.Error("a new policy starts with a remembered key")
	}
}

// cachedKey reports whether p's key cache holds key for p.
func cachedKey(p *Policy, key string) bool {
	var e keyEntry
	found, _ := p.cache.recall(p, key, &e)
	return found
}

func TestEqualConstantTime(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"agk_abc", "agk_abc", true},
		{"agk_abc", "agk_abd", false},
		{"agk_abc", "bgk_abc", false},
		{"agk_abc", "agk_ab", false},
		{"agk_ab", "agk_abc", false},
	} {
		if got := equalConstantTime(tt.a, tt.b); got != tt.want {
			t.Errorf("equalConstantTime(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestEqualConstantTimeWords: every length around the 8-byte words, with
// one byte different anywhere.
func TestEqualConstantTimeWords(t *testing.T) {
	for n := 0; n <= 40; n++ {
		a := strings.Repeat("k", n)
		if !equalConstantTime(a, strings.Clone(a)) {
			t.Fatalf("length %d: equal strings differ", n)
		}
		for i := 0; i < n; i++ {
			b := []byte(a)
			b[i] ^= 0x20
			if equalConstantTime(a, string(b)) {
				t.Fatalf("length %d: a difference at %d not seen", n, i)
			}
		}
	}
}

// TestSlotOfSpreads: keys differing anywhere land in many slots, and
// every slot is in range.
func TestSlotOfSpreads(t *testing.T) {
	seen := map[uint64]bool{}
	for i := 0; i < 512; i++ {
		s := slotOf(12345, "agk_"+strings.Repeat("x", i%40)+string(rune('a'+i%26))+strings.Repeat("y", i/26))
		if s >= keyCacheSlots {
			t.Fatalf("slot %d out of range", s)
		}
		seen[s] = true
	}
	if len(seen) < 256 {
		t.Errorf("512 keys in %d slots", len(seen))
	}
}
