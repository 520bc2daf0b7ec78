package accesslog

// Eight bytes at a time: AppendString asks of each word of a string
// whether any of its bytes needs more than a copy, and copies the clean
// runs in one append. In the filter's module a byte-by-byte test costs
// several times the word's.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// zeroByte reports (in a byte's high bit) whether a byte of w may be zero.
// It never misses a zero byte; it may also mark a byte above one, which
// costs only a byte-by-byte look.
func zeroByte(w uint64) uint64 { return (w - ones) & ^w & highs }

// needsEscape reports whether a byte of w may need AppendString's attention:
// a control character, a byte of a multi-byte sequence (checked for valid
// UTF-8 and U+2028/9), '"', '\\', '<', '>' or '&'. It never misses one.
func needsEscape(w uint64) bool {
	return (zeroByte(w&^(0x1f*ones))| // a byte below 0x20 (its bits above the fifth are zero)
		w| // a byte of 0x80 or more
		zeroByte((w|0x02*ones)^(0x3e*ones))| // '<' (0x3c) or '>' (0x3e)
		zeroByte((w|0x04*ones)^(0x26*ones))| // '"' (0x22) or '&' (0x26)
		zeroByte(w^(0x5c*ones)))& // '\\'
		highs != 0
}

// load64 is s[i:i+8] as a little-endian word (i+8 <= len(s)): byte loads
// the compiler combines into one 8-byte load on the ports that allow
// unaligned loads (wasm among them), as policy's key cache reads words.
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
