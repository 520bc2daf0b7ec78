package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// TestSumIndex checks the index against a map: every digest added is found
// at its entry, a second add of it answers the first entry, and digests
// never added are not found, for real digests and for made-up ones that
// differ in one word only; and no digest lies far from its first slot.
func TestSumIndex(t *testing.T) {
	real := func(i int) [32]byte { return sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i))) }
	madeUp := func(i int) [32]byte {
		var s [32]byte // three of the four words are equal in all of them
		binary.LittleEndian.PutUint64(s[8:], uint64(i))
		return s
	}
	for _, tc := range []struct {
		name string
		n    int
		sum  func(int) [32]byte
	}{{"none", 0, real}, {"one", 1, real}, {"real", 5000, real}, {"made-up", 300, madeUp}} {
		t.Run(tc.name, func(t *testing.T) {
			x := newSumIndex(tc.n)
			want := map[[32]byte]int32{}
			for i := range tc.n {
				s := tc.sum(i)
				k, added := x.add(&s)
				if !added || k != int32(i) {
					t.Fatalf("add %d: entry %d, added %v", i, k, added)
				}
				want[s] = k
			}
			for s, k := range want {
				if got, ok := x.find(&s); !ok || got != k {
					t.Fatalf("find: entry %d, %v; want %d", got, ok, k)
				}
				if got, added := x.add(&s); added || got != k {
					t.Fatalf("second add: entry %d, added %v; want %d, false", got, added, k)
				}
			}
			for i := tc.n; i < tc.n+1000; i++ {
				s := tc.sum(i)
				if got, ok := x.find(&s); ok {
					t.Fatalf("digest %d never added found at entry %d", i, got)
				}
			}
			if len(x.sums) != tc.n {
				t.Errorf("%d digests kept, want %d", len(x.sums), tc.n)
			}
			// Digests alike but for one word do not pile up: no digest
			// is more than a few slots from its start.
			longest := 0
			for s := range want {
				h, n := x.start(&s), 1
				for x.sums[x.slots[h]-1] != s {
					h, n = (h+1)&x.mask, n+1
				}
				longest = max(longest, n)
			}
			if longest > 24 {
				t.Errorf("a digest is %d slots from its start", longest)
			}
		})
	}
	var zero sumIndex // a key snapshot's Policy has none
	if s := [32]byte{1}; func() bool { _, ok := zero.find(&s); return ok }() {
		t.Error("the zero index found a digest")
	}
}
