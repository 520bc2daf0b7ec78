package policy

import "strconv"

// syntaxError returns where data stops being JSON and why, for the message
// of a configuration gjson found invalid: the offset counts the bytes read
// up to and including the offending one, as encoding/json's SyntaxError
// does. It is a small scanner of its own so that the filter does not link
// encoding/json's decoder for one message. ok is false when it finds no
// error (gjson and it disagree; the message then has no offset).
func syntaxError(data []byte) (offset int, msg string, ok bool) {
	s := scanner{data: data}
	s.space()
	if s.i >= len(data) {
		return len(data), "unexpected end of JSON input", true
	}
	if !s.value() {
		return s.errAt, s.err, true
	}
	s.space()
	if s.i < len(data) {
		return s.i + 1, "invalid character " + quoteChar(data[s.i]) + " after top-level value", true
	}
	return 0, "", false
}

type scanner struct {
	data  []byte
	i     int
	err   string
	errAt int
}

func (s *scanner) fail(what string) bool {
	if s.i >= len(s.data) {
		s.err, s.errAt = "unexpected end of JSON input", len(s.data)
		return false
	}
	s.err, s.errAt = "invalid character "+quoteChar(s.data[s.i])+" "+what, s.i+1
	return false
}

func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value() bool {
	if s.i >= len(s.data) {
		return s.fail("")
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '"':
		return s.str()
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.fail("looking for beginning of value")
}

func (s *scanner) object() bool {
	s.i++ // {
	s.space()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.space()
		if s.i >= len(s.data) || s.data[s.i] != '"' {
			return s.fail("looking for beginning of object key string")
		}
		if !s.str() {
			return false
		}
		s.space()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return s.fail("after object key")
		}
		s.i++
		s.space()
		if !s.value() {
			return false
		}
		s.space()
		if s.i < len(s.data) && s.data[s.i] == ',' {
			s.i++
			continue
		}
		if s.i < len(s.data) && s.data[s.i] == '}' {
			s.i++
			return true
		}
		return s.fail("after object key:value pair")
	}
}

func (s *scanner) array() bool {
	s.i++ // [
	s.space()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		return true
	}
	for {
		s.space()
		if !s.value() {
			return false
		}
		s.space()
		if s.i < len(s.data) && s.data[s.i] == ',' {
			s.i++
			continue
		}
		if s.i < len(s.data) && s.data[s.i] == ']' {
			s.i++
			return true
		}
		return s.fail("after array element")
	}
}

func (s *scanner) str() bool {
	s.i++ // "
	for s.i < len(s.data) {
		switch c := s.data[s.i]; {
		case c == '"':
			s.i++
			return true
		case c == '\\':
			s.i++
			if s.i >= len(s.data) {
				return s.fail("")
			}
			switch s.data[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				for range 4 {
					if s.i >= len(s.data) || hexValue(s.data[s.i]) < 0 {
						return s.fail("in \\u hexadecimal character escape")
					}
					s.i++
				}
			default:
				return s.fail("in string escape code")
			}
		case c < 0x20:
			return s.fail("in string literal")
		default:
			s.i++
		}
	}
	return s.fail("")
}

func (s *scanner) number() bool {
	if s.data[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.data) {
		return s.fail("")
	}
	switch c := s.data[s.i]; {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.fail("in numeric literal")
	}
	if s.i < len(s.data) && s.data[s.i] == '.' {
		s.i++
		if s.i >= len(s.data) || !isDigit(s.data[s.i]) {
			return s.fail("after decimal point in numeric literal")
		}
		s.digits()
	}
	if s.i < len(s.data) && (s.data[s.i] == 'e' || s.data[s.i] == 'E') {
		s.i++
		if s.i < len(s.data) && (s.data[s.i] == '+' || s.data[s.i] == '-') {
			s.i++
		}
		if s.i >= len(s.data) || !isDigit(s.data[s.i]) {
			return s.fail("in exponent of numeric literal")
		}
		s.digits()
	}
	return true
}

func (s *scanner) digits() {
	for s.i < len(s.data) && isDigit(s.data[s.i]) {
		s.i++
	}
}

func (s *scanner) literal(word string) bool {
	for j := 0; j < len(word); j++ {
		if s.i >= len(s.data) || s.data[s.i] != word[j] {
			return s.fail("in literal " + word + " (expecting " + quoteChar(word[j]) + ")")
		}
		s.i++
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// quoteChar formats c as encoding/json does in its syntax errors.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}
