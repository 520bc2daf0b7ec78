package policy

// nextPair returns the first pair of q, its key and raw value, and the rest
// of q after the separator. Both '&' and ';' separate pairs: older Rack,
// Python's parse_qsl before the CVE-2021-23336 fix and Go before 1.17 split
// on ';', so a parameter hidden behind one must be seen here too.
func nextPair(q string) (pair, key, value, rest string, more bool) {
	pair, rest = q, ""
	for i := 0; i < len(q); i++ {
		if q[i] == '&' || q[i] == ';' {
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
	n, whole := componentPrefix(raw, name)
	return whole && n == len(name)
}

// componentPrefix compares the decoded component raw with name: n is the
// length of their common prefix as far as it was compared, and whole
// reports whether raw ended there.
func componentPrefix(raw, name string) (n int, whole bool) {
	j := 0
	for i := 0; i < len(raw); i++ {
		if j == len(name) {
			return j, false
		}
		c := raw[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(raw) && unhex(raw[i+1]) >= 0 && unhex(raw[i+2]) >= 0:
			c = byte(unhex(raw[i+1])<<4 | unhex(raw[i+2]))
			i += 2
		}
		if name[j] != c {
			return j, false
		}
		j++
	}
	return j, true
}

// keyNames reports whether the raw query key is a spelling of the parameter
// name: name itself, or name followed by a bracket suffix ("name[]",
// "name[0]", "name[x]"), which Express's qs, PHP and Rails read as the same
// parameter. The bracket may be percent-encoded. It does not allocate.
func keyNames(raw, name string) bool {
	n, whole := componentPrefix(raw, name)
	if n != len(name) {
		return false
	}
	if whole {
		return true
	}
	// The rest of raw, after the bytes that spelled name.
	i, j := 0, 0
	for j < len(name) {
		if raw[i] == '%' && i+2 < len(raw) && unhex(raw[i+1]) >= 0 && unhex(raw[i+2]) >= 0 {
			i += 3
		} else {
			i++
		}
		j++
	}
	rest := raw[i:]
	return len(rest) > 0 && rest[0] == '[' || len(rest) >= 3 && rest[0] == '%' && rest[1] == '5' && (rest[2] == 'B' || rest[2] == 'b')
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
