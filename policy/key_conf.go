// Inline keys: reading one element of consumers[].keys (its hash, id and
// validity window).

package policy

import (
	"time"

	"github.com/tidwall/gjson"
)

// keyConf is a parsed key; its path is consumers[i].keys[j] (see keyRef).
type keyConf struct {
	id                  string
	sum                 [32]byte
	sumOK, idOK         bool
	revoked             bool
	notBefore, notAfter int64 // see keyEntry
}

// keyParse is a key being read: its conf and the times of its window.
type keyParse struct {
	k                   keyConf
	naPath              jsonPath
	notBefore, notAfter time.Time
}

// keyFields are the fields of an element of consumers[].keys.
var keyFields = schema[keyParse]{docPath: "consumers[].keys[].", docPage: "configuration.md", fields: []field[keyParse]{
	{name: "id", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, k *keyParse) bool {
		s, present, ok := ps.identifier(p, v)
		if present {
			k.k.id, k.k.idOK = s, ok
		}
		return present
	}, doc: "the key id, unique across consumers"},
	{name: "sha256", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, k *keyParse) bool {
		s, ok := ps.str(p, v)
		if ok {
			if k.k.sumOK = decodeSum(&k.k.sum, s); !k.k.sumOK {
				ps.add(p, "must be 64 lowercase hex digits (the SHA-256 of the whole key)")
			}
		}
		return ok
	}, doc: "the lowercase hex SHA-256 of the whole key"},
	{name: "revoked", read: readBool(func(k *keyParse) *bool { return &k.k.revoked }), def: "false",
		doc: "a revoked key is denied as revoked"},
	{name: "not_before", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyParse) bool {
		k.notBefore = ps.timestamp(p, v)
		return true
	}, doc: "the start of the key's validity (RFC 3339)"},
	{name: "not_after", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyParse) bool {
		k.naPath = p
		k.notAfter = ps.timestamp(p, v)
		return true
	}, doc: "the end of the key's validity (RFC 3339)"},
}}

// parseKey reads one element of consumers[i].keys.
func (ps *parser) parseKey(path jsonPath, v gjson.Result) keyConf {
	if !ps.generic && v.Type == gjson.JSON {
		if k, ok := ps.fastKey(v.Raw); ok {
			return k
		}
	}
	// The parser's scratch keyParse, not a new one per key: the read
	// functions would make each escape, a 100k-key configuration's worth.
	kp := &ps.key
	*kp = keyParse{}
	readObject(ps, &keyFields, path, v, kp)
	k := &kp.k
	if !kp.notAfter.IsZero() && !kp.notBefore.IsZero() && !kp.notAfter.After(kp.notBefore) {
		ps.add(kp.naPath, "must be after not_before")
	}
	k.notBefore, k.notAfter = noLowerBound, noUpperBound
	if !kp.notBefore.IsZero() {
		k.notBefore = unixNano(kp.notBefore)
	}
	if !kp.notAfter.IsZero() {
		k.notAfter = unixNano(kp.notAfter)
	}
	return *k
}

// keyRef locates a key in config.consumers by indices, a quarter of the
// size of a pointer and a jsonPath.
type keyRef struct {
	consumer, key int32
}

// path returns the JSON path of the key.
func (r keyRef) path(c *config) jsonPath {
	return c.consumers[r.consumer].path.member("keys").elem(int(r.key))
}

// decodeSum decodes the 64 lowercase hex digits s into sum, and reports
// whether s was well-formed.
func decodeSum(sum *[32]byte, s string) bool {
	if len(s) != 2*len(sum) {
		return false
	}
	bad := byte(0)
	for i := range sum {
		hi, lo := lowerHex[s[2*i]], lowerHex[s[2*i+1]]
		bad |= hi | lo
		sum[i] = hi<<4 | lo&15
	}
	return bad&0x80 == 0
}

// lowerHex maps a lowercase hex digit to its value, any other byte to 0xff.
var lowerHex = func() (t [256]byte) {
	for c := range t {
		t[c] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// timestamp reads an RFC 3339 time; the zero time means absent or invalid.
func (ps *parser) timestamp(path jsonPath, v gjson.Result) time.Time {
	s, ok := ps.str(path, v)
	if !ok {
		return time.Time{}
	}
	t, ok := parseUTCSeconds(s)
	var err error
	if !ok {
		t, err = time.Parse(time.RFC3339, s)
	}
	if err != nil || t.IsZero() {
		ps.add(path, "must be an RFC 3339 time such as \"2026-01-01T00:00:00Z\", got "+quote(s))
		return time.Time{}
	}
	return t
}

// parseUTCSeconds parses the common form of an RFC 3339 time,
// "YYYY-MM-DDTHH:MM:SSZ", without time.Parse's generality (a configuration
// of 100k keys holds 200k of them); ok is false for anything else, which
// time.Parse then reads. It accepts exactly what time.Parse accepts of that
// form (TestParseUTCSecondsAgreesWithTimeParse).
func parseUTCSeconds(s string) (time.Time, bool) {
	secs, ok := utcSeconds(s)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(secs, 0).UTC(), true
}

// utcSeconds returns the Unix seconds of s of the form
// "YYYY-MM-DDTHH:MM:SSZ", by arithmetic: ok is false when s is not of that
// form or not a valid date and time.
func utcSeconds(s string) (int64, bool) {
	if len(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return 0, false
	}
	year, ok1 := decimal(s[0:4])
	month, ok2 := decimal(s[5:7])
	day, ok3 := decimal(s[8:10])
	hour, ok4 := decimal(s[11:13])
	minute, ok5 := decimal(s[14:16])
	second, ok6 := decimal(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || second > 59 {
		return 0, false
	}
	return daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+second), true
}

// decimal returns the value of the decimal digits s.
func decimal(s string) (int, bool) {
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// daysIn returns the number of days of month (1 to 12) in year.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch returns the days from 1970-01-01 to the given date of the
// proleptic Gregorian calendar (year >= 0), counting years from March so
// that the leap day ends a year.
func daysSinceEpoch(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := (year + 400) / 400 // shifted so that year -1 divides correctly
	era--
	yoe := year - era*400  // [0, 399]
	mp := (month + 9) % 12 // March is 0
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
