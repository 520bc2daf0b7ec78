//go:build !wasip1 || tinygo

package bridge

// ReadRoom is what ReadInto needs beyond the data (see the wasip1 build).
const ReadRoom = 1

// ReadInto runs read. Outside the wasip1 build the SDK's emulator returns
// its own memory: the data is never in buf.
func ReadInto(buf []byte, read func() []byte) (data []byte, into bool) {
	return read(), false
}
