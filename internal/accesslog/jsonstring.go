package accesslog

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// plain tells the ASCII bytes AppendString copies as they are: one load
// per byte rather than six comparisons, in a module where each costs.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString appends s as a JSON string. Control characters, quotes,
// backslashes and the HTML-sensitive <, >, & are escaped; invalid UTF-8 is
// replaced with U+FFFD so the output is always valid JSON. The filter
// writes every JSON string it makes (log lines, problem documents, the
// filter-state record) with it.
func AppendString(b []byte, s string) []byte { return appendString(b, s, true) }

// appendString is AppendString, skipping words of plain bytes (word.go)
// when byWords is set, looking at every byte on its own otherwise (what the
// tests compare with).
func appendString(b []byte, s string, byWords bool) []byte {
	b = append(b, '"')
	start := 0 // s[start:i] is plain and not yet appended
	for i := 0; i < len(s); {
		if byWords && i+8 <= len(s) && !needsEscape(load64(s, i)) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			if c == '"' || c == '\\' {
				b = append(b, '\\', c)
			} else {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == 0x2028 || r == 0x2029 {
			b = append(b, s[start:i]...)
			if r == utf8.RuneError {
				b = append(b, "\ufffd"...)
			} else {
				b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
