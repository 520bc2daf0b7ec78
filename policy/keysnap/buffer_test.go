package keysnap

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestBuffer fills Buffers of several sizes in pieces of several sizes and
// checks every view against the contiguous bytes, across segment edges.
func TestBuffer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, total := range []int{1, 300, SegmentSize - 1, SegmentSize, SegmentSize + 1, 3*SegmentSize + 777} {
		data := make([]byte, total)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for _, piece := range []int{1, 1000, SegmentSize + 3} {
			b := NewBuffer(total)
			for off := 0; off < total; {
				room, free := b.Room()
				if free == 0 || cap(room) < free {
					t.Fatalf("total %d at %d: room cap %d, free %d", total, off, cap(room), free)
				}
				k := min(piece, total-off)
				if k <= free && piece%2 == 1 { // write in place, as the host does
					copy(room[:k], data[off:off+k])
					b.Wrote(k)
				} else if !b.Append(data[off : off+k]) {
					t.Fatalf("total %d: append of %d at %d refused", total, k, off)
				}
				off += k
			}
			if b.Append([]byte{1}) {
				t.Fatal("a full Buffer took one more byte")
			}
			if !b.Seal() {
				t.Fatal("not sealed when full")
			}
			checkViews(t, b, data)
		}
		checkViews(t, BufferOf(data), data)
	}
}

func checkViews(t *testing.T, b *Buffer, data []byte) {
	t.Helper()
	total := len(data)
	for _, off := range []int{0, 1, total / 2, total - 1, SegmentSize - Overlap, SegmentSize - 1, SegmentSize, 2*SegmentSize - 5} {
		if off < 0 || off >= total {
			continue
		}
		at := b.At(off)
		want := min(Overlap, total-off)
		if len(at) < want || !bytes.Equal(at[:want], data[off:off+want]) {
			t.Fatalf("total %d: At(%d) has %d bytes, wrong or fewer than %d", total, off, len(at), want)
		}
		n := min(total-off, SegmentSize+10)
		if got := b.Slice(off, n); !bytes.Equal(got, data[off:off+n]) {
			t.Fatalf("total %d: Slice(%d, %d) differs", total, off, n)
		}
		if !b.Equal(off, BufferOf(data), off, total-off) {
			t.Fatalf("total %d: Equal from %d is false for the same bytes", total, off)
		}
	}
	var got []byte
	b.Chunks(0, func(s []byte) bool { got = append(got, s...); return true })
	if !bytes.Equal(got, data) {
		t.Fatalf("total %d: Chunks gave %d bytes, not the data", total, len(got))
	}
	if total > 2 {
		other := append([]byte(nil), data...)
		other[total-1] ^= 1
		if b.Equal(0, BufferOf(other), 0, total) {
			t.Fatalf("total %d: Equal missed a changed last byte", total)
		}
	}
}
