package policy

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math/rand"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy/keysnap"
)

// TestSnapshotDuplicateKeyID: a snapshot in which two keys share an id is
// refused, wherever the two stand in the digest order, and one without is
// loaded.
func TestSnapshotDuplicateKeyID(t *testing.T) {
	store := mustCompile(t, `{"key_store": {"cluster": "k", "path": "/k", "allow_unsigned": true},
		"routes": [{"name": "r", "path": "/r"}]}`)
	const n = 5000
	snap := func(dup, of int) []byte {
		s := &keysnap.Snapshot{Generation: 1, Consumers: []keysnap.Consumer{{ID: "c"}}}
		for i := 0; i < n; i++ {
			k := keysnap.Key{ID: "key-" + strconv.Itoa(i), NotBefore: keysnap.NoLowerBound, NotAfter: keysnap.NoUpperBound}
			copy(k.Digest[:], sha256Sum(strconv.Itoa(i)))
			s.Keys = append(s.Keys, k)
		}
		if dup >= 0 {
			s.Keys[dup].ID = s.Keys[of].ID
		}
		data, err := keysnap.Encode(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	if _, err := store.LoadSnapshot(snap(-1, 0)); err != nil {
		t.Fatalf("no duplicate: %v", err)
	}
	for _, c := range [][2]int{{1, 0}, {0, 1}, {n - 1, 0}, {17, 4321}, {4321, 17}, {n - 2, n - 1}} {
		_, err := store.LoadSnapshot(snap(c[0], c[1]))
		var le *LoadError
		if !errors.As(err, &le) || le.Cause != CauseInvalid || !strings.Contains(le.Msg, "is used by two keys") {
			t.Errorf("key %d with the id of key %d: %v", c[0], c[1], err)
		}
	}
}

// TestCheckedLoader: a loader given the header CheckFirst accepted trusts
// it only for a snapshot that starts with the same bytes and for the
// policy that checked it; any other snapshot's header is checked in full.
func TestCheckedLoader(t *testing.T) {
	_, store, snap, _ := storeExample(t)
	_, other, _, _ := storeExampleWith(t, func(cfg map[string]any) {
		_, pub2, _ := ed25519.GenerateKey(rand.New(rand.NewSource(9)))
		cfg["key_store"].(map[string]any)["public_key"] = base64.StdEncoding.EncodeToString(pub2[32:])
	})
	checked, err := store.CheckFirst(snap[:keysnap.MaxHeaderSize])
	if err != nil {
		t.Fatal(err)
	}
	resigned := append([]byte(nil), snap...)
	resigned[16]++ // generation, covered by the signature
	load := func(p *Policy, data []byte) error {
		l, err := p.NewCheckedLoader(keysnap.BufferOf(data), nil, checked)
		if err != nil {
			return err
		}
		for !l.Step(time.Hour) {
		}
		if l.Err() != nil {
			return l.Err()
		}
		return nil
	}
	if err := load(store, snap); err != nil {
		t.Fatalf("the checked snapshot: %v", err)
	}
	for name, tc := range map[string]struct {
		p    *Policy
		data []byte
	}{
		"other header bytes": {store, resigned},
		"other policy":       {other, snap},
	} {
		var le *LoadError
		if err := load(tc.p, tc.data); !errors.As(err, &le) || le.Cause != CauseBadSignature {
			t.Errorf("%s: %v, want a bad signature", name, err)
		}
	}
}

// TestSnapshotDuplicateConsumer: a snapshot that repeats a consumer id is
// refused, naming both consumers.
func TestSnapshotDuplicateConsumer(t *testing.T) {
	store := mustCompile(t, `{"key_store": {"cluster": "k", "path": "/k", "allow_unsigned": true},
		"routes": [{"name": "r", "path": "/r"}]}`)
	s := &keysnap.Snapshot{Generation: 1, Consumers: []keysnap.Consumer{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "b"}}}
	data, err := keysnap.Encode(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.LoadSnapshot(data)
	var le *LoadError
	if !errors.As(err, &le) || le.Cause != CauseInvalid || le.Msg != `consumer "b": duplicate consumer id (also consumer 1)` {
		t.Fatalf("got %v", err)
	}
}

// TestNameIndex: the last name found is remembered, and never stands for
// another.
func TestNameIndex(t *testing.T) {
	x := nameIndex{m: map[string]int{"gold": 0, "silver": 1}, last: -1}
	for _, c := range []struct {
		name string
		i    int
		ok   bool
	}{{"gold", 0, true}, {"gold", 0, true}, {"silver", 1, true}, {"bronze", 0, false}, {"silver", 1, true}, {"gold", 0, true}, {"", 0, false}} {
		if i, ok := x.get(c.name); i != c.i || ok != c.ok {
			t.Errorf("%q: %d %v, want %d %v", c.name, i, ok, c.i, c.ok)
		}
	}
}

// TestSortScopes: sortScopes sorts as sort.Strings does, at every length.
func TestSortScopes(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for n := 0; n <= 20; n++ {
		s := make([]string, n)
		for i := range s {
			s[i] = strconv.Itoa(rng.Intn(8)) + "s"
		}
		want := append([]string(nil), s...)
		sort.Strings(want)
		if sortScopes(s); !slices.Equal(s, want) {
			t.Fatalf("%d: %q, want %q", n, s, want)
		}
	}
}

// TestSnapshotKeyOrder: key records out of digest order, or with a digest
// twice, are refused, whichever of the digest's bytes first differ.
func TestSnapshotKeyOrder(t *testing.T) {
	store := mustCompile(t, `{"key_store": {"cluster": "k", "path": "/k", "allow_unsigned": true},
		"routes": [{"name": "r", "path": "/r"}]}`)
	s := &keysnap.Snapshot{Generation: 1, Consumers: []keysnap.Consumer{{ID: "c"}}}
	for i := 0; i < 6; i++ {
		k := keysnap.Key{ID: "k" + strconv.Itoa(i), NotBefore: keysnap.NoLowerBound, NotAfter: keysnap.NoUpperBound}
		k.Digest[0], k.Digest[9] = 1, byte(i) // the first 8 bytes are equal for keys 0 to 5...
		s.Keys = append(s.Keys, k)
	}
	s.Keys[5].Digest[3] = 2 // ...but key 5's
	good, err := keysnap.Encode(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.LoadSnapshot(good); err != nil {
		t.Fatal(err)
	}
	h, _ := keysnap.ParseHeader(good)
	_, recs, _, _, _ := h.Offsets()
	rec := func(data []byte, i int) []byte { return data[recs+i*keysnap.RecordSize:][:32] }
	for name, edit := range map[string]func(d []byte){
		"swapped in the last bytes": func(d []byte) { rec(d, 2)[9], rec(d, 3)[9] = rec(d, 3)[9], rec(d, 2)[9] },
		"swapped in the first 8":    func(d []byte) { rec(d, 4)[3], rec(d, 5)[3] = 2, 0 },
		"a digest twice":            func(d []byte) { copy(rec(d, 4), rec(d, 3)) },
	} {
		data := append([]byte(nil), good...)
		edit(data)
		sum := sha256.Sum256(data[h.Size:])
		copy(data[64:96], sum[:]) // the body's digest (unsigned)
		_, err := store.LoadSnapshot(data)
		var le *LoadError
		if !errors.As(err, &le) || le.Cause != CauseCorrupt || !strings.Contains(le.Msg, "strictly ascending digest order") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDigestAfter(t *testing.T) {
	d := func(b0, b20 byte) []byte {
		x := make([]byte, 32)
		x[0], x[20] = b0, b20
		return x
	}
	for _, c := range []struct {
		a, b []byte
		want bool
	}{{d(2, 0), d(1, 9), true}, {d(1, 9), d(2, 0), false}, {d(1, 2), d(1, 1), true}, {d(1, 1), d(1, 2), false}, {d(1, 1), d(1, 1), false}} {
		if got := digestAfter(binary.BigEndian.Uint64(c.a), binary.BigEndian.Uint64(c.b), c.a, c.b); got != c.want {
			t.Errorf("%x after %x: %v", c.a, c.b, got)
		}
	}
}

// TestVisibleHash: visibleHash is fnv1a and isVisibleASCII in one pass.
func TestVisibleHash(t *testing.T) {
	for _, s := range []string{"", "key-1", "a b", "\x7f", "é", "!~", "x\x00"} {
		if h, ok := visibleHash(s); h != fnv1a(0, s) || ok != isVisibleASCII(s) {
			t.Errorf("%q: %x %v", s, h, ok)
		}
	}
}
