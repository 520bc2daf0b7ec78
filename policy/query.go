package policy

// nextPair returns the first '&'-separated pair of q, its key and raw value,
// and the rest of q after the separator.
func nextPair(q string) (pair, key, value, rest string, more bool) {
	pair, rest = q, ""
	for i := 0; i < len(q); i++ {
		if q[i] == '&' {
			pair, rest, more = q[:i], q[i+1:], true
			break
		}
	}
	key = pair
	for i := 0; i < len(pair); i++ {
		if pair[i] == '=' {
			key, value = pair[:i], pair[i+1:]
			break
		}
	}
	return pair, key, value, rest, more
}

// componentEquals reports whether the query component raw, decoded as
// application/x-www-form-urlencoded ('+' is a space, %XX a byte), equals
// name. An invalid escape stands for itself. It does not allocate.
func componentEquals(raw, name string) bool {
	j := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(raw) && unhex(raw[i+1]) >= 0 && unhex(raw[i+2]) >= 0:
			c = byte(unhex(raw[i+1])<<4 | unhex(raw[i+2]))
			i += 2
		}
		if j >= len(name) || name[j] != c {
			return false
		}
		j++
	}
	return j == len(name)
}

// decodeComponent decodes a query component ('+' is a space, %XX a byte).
// It allocates only when raw contains an escape; ok is false for an invalid
// escape.
func decodeComponent(raw string) (s string, ok bool) {
	plain := true
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' || raw[i] == '+' {
			plain = false
			break
		}
	}
	if plain {
		return raw, true
	}
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '+':
			c = ' '
		case '%':
			if i+2 >= len(raw) || unhex(raw[i+1]) < 0 || unhex(raw[i+2]) < 0 {
				return "", false
			}
			c = byte(unhex(raw[i+1])<<4 | unhex(raw[i+2]))
			i += 2
		}
		b = append(b, c)
	}
	return string(b), true
}

// parsePlainUint parses a plain base-10 non-negative integer: digits only,
// no sign, no leading zero (except "0" itself), no exponent. Values above
// max saturate to max+1 (so they are reported as out of range rather than
// as malformed). ok is false when s is not a plain integer.
func parsePlainUint(s string, max int64) (v int64, ok bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v <= max {
			v = v*10 + int64(c-'0')
		}
	}
	if v > max {
		v = max + 1
	}
	return v, true
}
