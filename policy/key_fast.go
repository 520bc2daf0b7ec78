package policy

import "github.com/tidwall/gjson"

// The fast path of an inline key, the common shape of the many objects of
// a large configuration: an object of keyFields' members, each a plain
// value (strings without escapes, not_before and not_after of the form
// "YYYY-MM-DDTHH:MM:SSZ"), all valid. It reads the object's text once,
// matching member names by a switch (TestFastKeyKnowsKeyFields checks
// that the switch and keyFields name the same fields), and gives up on
// anything else: parseKey then reads the key through keyFields, which
// reports what is wrong with the messages and paths users see
// (TestFastKeyAgreesWithGeneric and TestCompileFastAgreesWithGeneric, and
// their fuzzers, check that both read every key alike).

// Bits of the members fastKey has read.
const (
	fastKeyID = 1 << iota
	fastKeySum
	fastKeyRevoked
	fastKeyNotBefore
	fastKeyNotAfter
)

// fastKeyNames are the member names fastKey reads.
var fastKeyNames = []string{"id", "sha256", "revoked", "not_before", "not_after"}

// fastKey reads the key object raw (JSON text that is valid), and reports
// whether it could: false when raw is not of the common shape or not a
// valid key, which only parseKey's generic reading reports on.
func (ps *parser) fastKey(raw string) (keyConf, bool) {
	k, end, ok := ps.fastKeyAt(raw, 0)
	return k, ok && skipSpaceString(raw, end) == len(raw)
}

// fastKeys reads the array of keys v, each by fastKeyAt, into a slice of
// its own; ok is false when v is not such an array of at least one key,
// or one of its keys is not of the common shape.
func (ps *parser) fastKeys(v gjson.Result) (keys []keyConf, ok bool) {
	if ps.generic || v.Type != gjson.JSON {
		return nil, false
	}
	keys, end, ok := ps.fastKeysAt(v.Raw, 0)
	return keys, ok && end == len(v.Raw)
}

// fastKeysAt is fastKeys of the array at offset i of s; end is the offset
// past it.
func (ps *parser) fastKeysAt(s string, i int) (keys []keyConf, end int, ok bool) {
	if at(s, i) != '[' {
		return nil, i, false
	}
	buf := ps.keyBuf[:0]
	i = skipSpaceString(s, i+1)
	for at(s, i) == '{' {
		var k keyConf
		if k, i, ok = ps.fastKeyAt(s, i); !ok {
			return nil, i, false
		}
		buf = append(buf, k)
		switch i = skipSpaceString(s, i); at(s, i) {
		case ',':
			i = skipSpaceString(s, i+1)
		case ']':
			ps.keyBuf = buf
			return append([]keyConf(nil), buf...), i + 1, true
		default:
			return nil, i, false
		}
	}
	return nil, i, false
}

// fastKeyAt reads the key object at offset i of s, see fastKey: the key and
// the offset past it.
func (ps *parser) fastKeyAt(s string, i int) (k keyConf, end int, ok bool) {
	var nb, na int64
	seen := 0
	if at(s, i) != '{' {
		return k, i, false
	}
	if i = skipSpaceString(s, i+1); at(s, i) == '}' {
		return k, i, false
	}
	for {
		var name string
		if name, i, ok = plainString(s, i); !ok {
			return k, i, false
		}
		if i = skipSpaceString(s, i); at(s, i) != ':' {
			return k, i, false
		}
		i = skipSpaceString(s, i+1)
		var bit int
		switch name {
		case "id":
			bit = fastKeyID
			k.id, i, ok = plainID(s, i)
			k.idOK = ok
		case "sha256":
			bit = fastKeySum
			i, ok = plainSum(&k.sum, s, i)
			k.sumOK = ok
		case "revoked":
			bit = fastKeyRevoked
			k.revoked, i, ok = plainBool(s, i)
		case "not_before":
			bit = fastKeyNotBefore
			nb, i, ok = plainTime(s, i)
		case "not_after":
			bit = fastKeyNotAfter
			na, i, ok = plainTime(s, i)
		}
		if !ok || bit == 0 || seen&bit != 0 {
			return k, i, false
		}
		seen |= bit
		if i = skipSpaceString(s, i); at(s, i) == ',' {
			i = skipSpaceString(s, i+1)
			continue
		}
		if at(s, i) != '}' {
			return k, i, false
		}
		break
	}
	if seen&(fastKeyID|fastKeySum) != fastKeyID|fastKeySum ||
		seen&(fastKeyNotBefore|fastKeyNotAfter) == fastKeyNotBefore|fastKeyNotAfter && na <= nb {
		return k, i, false
	}
	k.id = ps.keep(k.id)
	k.notBefore, k.notAfter = noLowerBound, noUpperBound
	if seen&fastKeyNotBefore != 0 {
		k.notBefore = nb * 1e9
	}
	if seen&fastKeyNotAfter != 0 {
		k.notAfter = na * 1e9
	}
	return k, i + 1, true
}

// at returns s[i], or 0 past the end of s.
func at(s string, i int) byte {
	if i < 0 || i >= len(s) {
		return 0
	}
	return s[i]
}

// plainString reads the JSON string at i of s when it has no escapes: its
// value and the offset past it.
func plainString(s string, i int) (string, int, bool) {
	if at(s, i) != '"' {
		return "", i, false
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '"':
			return s[i+1 : j], j + 1, true
		case '\\':
			return "", i, false
		}
	}
	return "", i, false
}

// plainBool reads the JSON true or false at i of s.
func plainBool(s string, i int) (bool, int, bool) {
	if len(s)-i >= 4 && s[i:i+4] == "true" {
		return true, i + 4, true
	}
	if len(s)-i >= 5 && s[i:i+5] == "false" {
		return false, i + 5, true
	}
	return false, i, false
}

// plainTime reads the JSON string at i of s when it is a time of the form
// "YYYY-MM-DDTHH:MM:SSZ" in the years 1700 to 2199, where Unix
// nanoseconds (unixNano) need no clamping: its Unix seconds.
func plainTime(s string, i int) (int64, int, bool) {
	const n = len("2026-01-01T00:00:00Z")
	if len(s)-i < n+2 || s[i] != '"' || s[i+n+1] != '"' {
		return 0, i, false
	}
	secs, ok := utcSeconds(s[i+1 : i+n+1])
	if !ok || secs < minPlainTime || secs >= maxPlainTime {
		return 0, i, false
	}
	return secs, i + n + 2, true
}

// plainID reads the JSON string at i of s when it is a valid identifier
// (isIdentifier) without escapes.
func plainID(s string, i int) (string, int, bool) {
	if at(s, i) != '"' {
		return "", i, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			id := s[i+1 : j]
			return id, j + 1, id != "" && len(id) <= 256
		case c < 0x21 || c > 0x7e || c == '\\':
			return "", i, false
		}
	}
	return "", i, false
}

// plainSum decodes the JSON string at i of s into sum when it is 64
// lowercase hex digits.
func plainSum(sum *[32]byte, s string, i int) (int, bool) {
	const n = 2 * len(sum)
	if len(s)-i < n+2 || s[i] != '"' || s[i+n+1] != '"' || !decodeSum(sum, s[i+1:i+n+1]) {
		return i, false
	}
	return i + n + 2, true
}

// The Unix seconds of 1700-01-01 and 2200-01-01.
const (
	minPlainTime = -8520336000
	maxPlainTime = 7258118400
)
