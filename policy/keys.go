package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"time"
)

// Key format: prefix + keyRandomLen base62 characters of randomness +
// keyChecksumLen base62 characters encoding the CRC32 (IEEE) of
// prefix+random, big-endian, left-padded with '0'.
const (
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	keyRandomLen   = 32
	keyChecksumLen = 6

	// maxKeyLen bounds the length of a presented key; longer keys are
	// malformed (and never hashed).
	maxKeyLen = 512
	// maxPrefixLen bounds the length of key_format.prefix.
	maxPrefixLen = 64
)

// Errors returned by CheckKeyFormat and GenerateKey.
var (
	ErrKeyPrefix   = errors.New("policy: key does not start with the expected prefix")
	ErrKeyLength   = errors.New("policy: key has the wrong length")
	ErrKeyCharset  = errors.New("policy: key contains a character outside the base62 alphabet")
	ErrKeyChecksum = errors.New("policy: key checksum does not match")
	ErrBadPrefix   = errors.New("policy: key prefix must be at most 64 printable ASCII characters without spaces")
	ErrRandom      = errors.New("policy: random source failed to produce enough unbiased bytes")
)

// GenerateKey returns a new key: prefix, 32 base62 characters drawn without
// bias from rand, and 6 base62 characters encoding the CRC32 (IEEE) of
// everything before them. Use crypto/rand.Reader in production.
func GenerateKey(prefix string, rand io.Reader) (string, error) {
	if !validPrefix(prefix) {
		return "", ErrBadPrefix
	}
	if rand == nil {
		return "", ErrRandom
	}
	b := make([]byte, 0, len(prefix)+keyRandomLen+keyChecksumLen)
	b = append(b, prefix...)
	var buf [64]byte
	// 248 = 4*62: bytes >= 248 are rejected so that every character is
	// equally likely. Give up after a bounded number of reads so that a
	// broken reader cannot make us loop forever.
	for n, reads := 0, 0; n < keyRandomLen; reads++ {
		if reads == 16 {
			return "", ErrRandom
		}
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return "", errors.Join(ErrRandom, err)
		}
		for _, c := range buf {
			if c < 248 && n < keyRandomLen {
				b = append(b, base62Alphabet[c%62])
				n++
			}
		}
	}
	b = appendBase62(b, crc32.ChecksumIEEE(b))
	return string(b), nil
}

// CheckKeyFormat reports whether key has the given prefix, the right length,
// only base62 characters after the prefix and a correct checksum. It returns
// nil for a well-formed key, otherwise one of the ErrKey* errors.
func CheckKeyFormat(prefix, key string) error {
	return checkKey(prefix, key, true)
}

// checkKey is CheckKeyFormat with an optional checksum verification. It does
// not allocate.
func checkKey(prefix, key string, checksum bool) error {
	if len(key) < len(prefix) || key[:len(prefix)] != prefix {
		return ErrKeyPrefix
	}
	if !checksum {
		return nil
	}
	if len(key) != len(prefix)+keyRandomLen+keyChecksumLen {
		return ErrKeyLength
	}
	for i := len(prefix); i < len(key); i++ {
		if base62Value(key[i]) < 0 {
			return ErrKeyCharset
		}
	}
	body := key[:len(key)-keyChecksumLen]
	crc := crc32String(body)
	var sum [keyChecksumLen]byte
	appendBase62(sum[:0], crc)
	if string(sum[:]) != key[len(body):] {
		return ErrKeyChecksum
	}
	return nil
}

// HashKey returns the lowercase hex SHA-256 of key, the form stored in the
// configuration's "sha256" fields.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// appendBase62 appends v as keyChecksumLen base62 digits, most significant
// first, left-padded with '0'. 62^6 > 2^32, so every uint32 fits.
func appendBase62(b []byte, v uint32) []byte {
	var d [keyChecksumLen]byte
	for i := keyChecksumLen - 1; i >= 0; i-- {
		d[i] = base62Alphabet[v%62]
		v /= 62
	}
	return append(b, d[:]...)
}

// base62Values maps a byte to its base62 digit value plus one (0: not a
// base62 digit).
var base62Values = func() (t [256]int8) {
	for i := 0; i < len(base62Alphabet); i++ {
		t[base62Alphabet[i]] = int8(i + 1)
	}
	return t
}()

// base62Value returns the value of a base62 digit, or -1.
func base62Value(c byte) int { return int(base62Values[c]) - 1 }

// validPrefix reports whether prefix is usable in a key: at most
// maxPrefixLen visible ASCII characters.
func validPrefix(prefix string) bool {
	return len(prefix) <= maxPrefixLen && isVisibleASCII(prefix)
}

// isVisibleASCII reports whether s consists only of visible ASCII characters
// (0x21..0x7E): no spaces, no control characters, nothing beyond ASCII.
func isVisibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// keyEntry is one configured key, found by the SHA-256 of the raw key.
// A configuration holds one per key, so it is small (32 bytes) and holds no
// pointer (see Policy.keys).
type keyEntry struct {
	notBefore int64 // Unix nanoseconds (see unixNano); noLowerBound when absent
	notAfter  int64 // Unix nanoseconds (see unixNano); noUpperBound when absent
	// idStart and idEnd locate the key id in Policy.keyIDs.
	idStart, idEnd uint32
	consumer       int32 // index in Policy.consumers
	revoked        bool
}

// keyID returns the id of the key e.
func (p *Policy) keyID(e *keyEntry) string { return p.keyIDs[e.idStart:e.idEnd] }

// Validity bounds of a key without not_before or not_after.
const (
	noLowerBound = math.MinInt64
	noUpperBound = math.MaxInt64
)

// unixNano returns t in nanoseconds since the Unix epoch, clamped to the
// range of int64 (the years 1678 to 2262), where time.Time.UnixNano is
// undefined. Clamping keeps every comparison with a request time in that
// range exact: a bound after 2262 lies after any such request time, one
// before 1678 before it.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minUnixNano):
		return math.MinInt64
	case t.After(maxUnixNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minUnixNano = time.Unix(0, math.MinInt64)
	maxUnixNano = time.Unix(0, math.MaxInt64)
)

// consumer is one configured consumer. It holds no pointer, so that the
// garbage collector never scans a table of them (a key store's may hold
// millions): its strings lie in the policy's consumer text
// (Policy.consumerText[chunk][off:]) as the partition key (16 bytes), the
// id, then its bucket key under each rate-limit policy, in the order of
// Policy.limits; read them with the Policy's accessors (consumer_build.go).
type consumer struct {
	chunk, off uint32
	idLen      uint16
	set        uint32 // index into Policy.scopeSets: scopes, header, bits
	limit      int32  // index into Policy.limits, -1 for none
	quota      int32  // index into Policy.quotas, -1 for none
}

// crcTables are the slicing-by-8 tables of CRC32 (IEEE).
var crcTables = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for i := 0; i < 256; i++ {
		for k := 1; k < 8; k++ {
			t[k][i] = t[k-1][i]>>8 ^ t[0][byte(t[k-1][i])]
		}
	}
	return t
}()

// crc32String returns crc32.ChecksumIEEE of s without converting s to a
// byte slice (which would allocate: the standard library's implementation
// lets its argument escape).
func crc32String(s string) uint32 {
	crc := ^uint32(0)
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = crcTables[0][s[7]] ^ crcTables[1][s[6]] ^ crcTables[2][s[5]] ^ crcTables[3][s[4]] ^
			crcTables[4][crc>>24] ^ crcTables[5][byte(crc>>16)] ^ crcTables[6][byte(crc>>8)] ^ crcTables[7][byte(crc)]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		crc = crcTables[0][byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}
