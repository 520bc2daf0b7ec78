//go:build wasip1 && !tinygo

package bridge

import "unsafe"

// ReadRoom is the room ReadInto needs in its buffer beyond the data: what
// reserve keeps free for the other host calls of a callback.
const ReadRoom = spareMin

// ReadInto runs read, a data-returning host call, with buf as the memory
// the allocator hands out, so that the host writes the data straight into
// buf instead of into a fresh buffer the caller would copy from. buf must
// have room for the data and ReadRoom more bytes; when it has not, the
// allocator takes memory of its own as usual. into reports whether the
// data went to the start of buf. After read returns, the allocator is back
// on its own memory: nothing else is ever written into buf.
func ReadInto(buf []byte, read func() []byte) (data []byte, into bool) {
	savedSpare, savedOff := spare, spareOff
	spare, spareOff = buf, 0
	data = read()
	if len(spare) == 0 || &spare[0] != unsafe.SliceData(buf) {
		// reserve replaced it: the data (if any) is in memory of its own;
		// that memory stays the allocator's spare.
		savedSpare, savedOff = spare, spareOff
	}
	spare, spareOff = savedSpare, savedOff
	into = len(data) > 0 && unsafe.SliceData(data) == unsafe.SliceData(buf)
	return data, into
}
