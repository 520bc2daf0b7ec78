package keysnap

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestDigest: digest's sums equal crypto/sha256's for every length up to
// several blocks and a few large ones, whatever the writes' sizes.
func TestDigest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1<<20+333)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	lengths := []int{len(data), 1 << 20, 1<<16 + 1}
	for n := 0; n <= 400; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		want := sha256.Sum256(data[:n])
		d := newDigest()
		for p := data[:n]; len(p) > 0; {
			k := min(len(p), rng.IntN(150))
			d.Write(p[:k])
			p = p[k:]
		}
		if got := d.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("%d bytes: %x, want %x", n, got, want)
		}
		if got := d.Sum([]byte("x")); !bytes.Equal(got[1:], want[:]) || got[0] != 'x' {
			t.Fatalf("%d bytes, summed again: %x, want x%x", n, got, want)
		}
	}
	d := newDigest()
	d.Write(data[:100])
	d.Reset()
	if want := sha256.Sum256(nil); !bytes.Equal(d.Sum(nil), want[:]) || d.Size() != 32 || d.BlockSize() != 64 {
		t.Fatal("Reset, Size or BlockSize")
	}
}

// TestSum256: Sum256 equals crypto/sha256's for every length a key can
// have and more, through digest (the wasm path) as natively, and
// allocates nothing.
func TestSum256(t *testing.T) {
	data := bytes.Repeat([]byte("agk_0123456789abcdefXYZ"), 40)
	for n := 0; n <= len(data); n++ {
		want := sha256.Sum256(data[:n])
		if got := Sum256(data[:n]); got != want {
			t.Fatalf("Sum256 of %d bytes: %x, want %x", n, got, want)
		}
		var d digest
		d.Reset()
		d.Write(data[:n])
		if got := d.sum(); got != want {
			t.Fatalf("digest of %d bytes: %x, want %x", n, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Sum256(data[:40]) }); n != 0 {
		t.Errorf("Sum256 allocates %v times", n)
	}
}

// FuzzDigest: digest's sum of data written in two parts equals
// crypto/sha256's.
func FuzzDigest(f *testing.F) {
	f.Add([]byte("abc"), 1)
	f.Add(bytes.Repeat([]byte{0xa5}, 200), 64)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		cut = min(max(cut, 0), len(data))
		d := newDigest()
		d.Write(data[:cut])
		d.Write(data[cut:])
		want := sha256.Sum256(data)
		if got := d.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("%x, want %x", got, want)
		}
	})
}
