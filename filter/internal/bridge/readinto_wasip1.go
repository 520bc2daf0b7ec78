//go:build wasip1 && !tinygo

package bridge

import "unsafe"

// ReadRoom is the room ReadInto needs in its buffer beyond the data: one
// byte, since the allocator hands out room strictly inside its spare.
const ReadRoom = 1

// ReadInto runs read, one data-returning host call, with buf as the memory
// the allocator hands out, so that the host writes the data straight into
// buf instead of into a fresh buffer the caller would copy from. buf must
// have room for the data and ReadRoom more bytes; when it has not, the
// data goes to memory of its own as usual. into reports whether the data
// went to the start of buf. While read runs, the allocator hands out buf
// whole (the one allocation of that host call), without keeping the room
// other host calls start with; after read returns it is back on its own
// memory: nothing else is ever written into buf.
func ReadInto(buf []byte, read func() []byte) (data []byte, into bool) {
	savedSpare, savedOff := spare, spareOff
	spare, spareOff, exact = buf, 0, true
	data = read()
	exact = false
	if len(spare) == 0 || &spare[0] != unsafe.SliceData(buf) {
		// reserve replaced it: the data (if any) is in memory of its own;
		// that memory stays the allocator's spare.
		savedSpare, savedOff = spare, spareOff
	}
	spare, spareOff = savedSpare, savedOff
	into = len(data) > 0 && unsafe.SliceData(data) == unsafe.SliceData(buf)
	return data, into
}
