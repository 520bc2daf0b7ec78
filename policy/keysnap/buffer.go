package keysnap

import "bytes"

// Segments of a Buffer.
const (
	// SegmentShift is log2 of SegmentSize.
	SegmentShift = 18
	// SegmentSize is how many bytes of a snapshot one segment of a Buffer
	// holds (the last segment may hold fewer).
	SegmentSize = 1 << SegmentShift
	// Overlap is how many bytes of the next segment every segment but the
	// last repeats at its end: a key record, a key id (at most 256 bytes)
	// or a validity window that starts in a segment ends in it too.
	Overlap = 256
)

// Buffer holds the bytes of one snapshot, header and body, in segments of
// SegmentSize bytes (plus Overlap) instead of one allocation. A filter that
// loads a new generation while the previous one serves needs room for two
// snapshots at once; in segments, the new one fills the free spans the
// runtime already has instead of one span as large as the snapshot, which
// a WebAssembly VM, whose memory only grows, would have to add.
//
// A Buffer is filled in order (Room, Wrote, Append) up to its total, then
// sealed (Seal), and never changes after: views of it may be kept.
type Buffer struct {
	segs  [][]byte
	n     int // bytes written
	total int
}

// NewBuffer returns an empty Buffer for a snapshot of total bytes. Room is
// allocated a segment at a time, as data arrives.
func NewBuffer(total int) *Buffer {
	return &Buffer{segs: make([][]byte, (total+SegmentSize-1)>>SegmentShift), total: total}
}

// BufferOf returns a sealed Buffer of data (a whole snapshot), made of
// views of data: nothing is copied.
func BufferOf(data []byte) *Buffer {
	b := NewBuffer(len(data))
	for i := range b.segs {
		start := i << SegmentShift
		b.segs[i] = data[start:min(len(data), start+SegmentSize+Overlap)]
	}
	b.n = len(data)
	return b
}

// Len returns how many bytes were written; Total how many the snapshot has.
func (b *Buffer) Len() int   { return b.n }
func (b *Buffer) Total() int { return b.total }

// segCap is the capacity of segment i: its share of the snapshot, and the
// overlap unless it is the last, which has one byte more instead (room a
// host's allocator may need beyond the data, bridge.ReadRoom).
func (b *Buffer) segCap(i int) int {
	start := i << SegmentShift
	if start+SegmentSize >= b.total {
		return b.total - start + 1
	}
	return SegmentSize + Overlap
}

// Room returns the free capacity of the segment the next byte goes to, as
// an empty slice (allocating the segment first if needed), and free, how
// many bytes of it the segment takes: up to the end of the segment's
// share, never into its overlap. The slice's capacity may exceed free; a
// writer must write at most free bytes. free is 0 when the Buffer is full.
func (b *Buffer) Room() (room []byte, free int) {
	if b.n >= b.total {
		return nil, 0
	}
	i := b.n >> SegmentShift
	if b.segs[i] == nil {
		b.segs[i] = make([]byte, 0, b.segCap(i))
	}
	s := b.segs[i]
	end := min(SegmentSize, b.total-i<<SegmentShift)
	return s[len(s):], end - len(s)
}

// Wrote records that k bytes were written into the slice Room returned.
func (b *Buffer) Wrote(k int) {
	i := b.n >> SegmentShift
	b.segs[i] = b.segs[i][:len(b.segs[i])+k]
	b.n += k
}

// Append copies p into the Buffer; it reports false, writing nothing, when
// p does not fit.
func (b *Buffer) Append(p []byte) bool {
	if len(p) > b.total-b.n {
		return false
	}
	for len(p) > 0 {
		room, free := b.Room()
		k := copy(room[:free], p)
		b.Wrote(k)
		p = p[k:]
	}
	return true
}

// Seal fills the segments' overlaps once every byte is written, and
// reports whether every byte was.
func (b *Buffer) Seal() bool {
	if b.n != b.total {
		return false
	}
	for i := 0; i+1 < len(b.segs); i++ {
		s, next := b.segs[i], b.segs[i+1]
		if len(s) == SegmentSize { // not a view made by BufferOf
			b.segs[i] = append(s, next[:min(Overlap, len(next))]...)
		}
	}
	if last := len(b.segs) - 1; last >= 0 {
		b.segs[last] = b.segs[last][:len(b.segs[last]):len(b.segs[last])]
	}
	return true
}

// At returns the bytes from off on, up to the end of off's segment and
// its overlap: at least min(Overlap, Total()-off) bytes. The Buffer must
// be sealed.
func (b *Buffer) At(off int) []byte {
	return b.segs[off>>SegmentShift][off&(SegmentSize-1):]
}

// Slice returns the n bytes from off: a view when they lie within one
// segment, else a copy.
func (b *Buffer) Slice(off, n int) []byte {
	if s := b.At(off); len(s) >= n {
		return s[:n:n]
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		s := b.At(off + len(out))
		s = s[:min(len(s), SegmentSize-(off+len(out))&(SegmentSize-1), n-len(out))]
		out = append(out, s...)
	}
	return out
}

// Equal reports whether the n bytes of b from off are the n bytes of o
// from ooff. Both must be sealed.
func (b *Buffer) Equal(off int, o *Buffer, ooff, n int) bool {
	for n > 0 {
		x, y := b.At(off), o.At(ooff)
		k := min(n, SegmentSize-off&(SegmentSize-1), SegmentSize-ooff&(SegmentSize-1), len(x), len(y))
		if !bytes.Equal(x[:k], y[:k]) {
			return false
		}
		off, ooff, n = off+k, ooff+k, n-k
	}
	return true
}

// Chunks calls f with the bytes from off to the end of the snapshot, a
// segment's share at a time, until f returns false.
func (b *Buffer) Chunks(off int, f func([]byte) bool) {
	for off < b.total {
		s := b.At(off)
		s = s[:min(len(s), SegmentSize-off&(SegmentSize-1), b.total-off)]
		if !f(s) {
			return
		}
		off += len(s)
	}
}
