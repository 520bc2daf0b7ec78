// Package keymat is apiguard's API key material: the key format (a prefix,
// 32 base62 characters of randomness and a 6-character CRC32 checksum),
// generating keys, checking their format and hashing them into the form
// configurations and key snapshots store. policy checks presented keys with
// it; the CLI generates, hashes and scans keys with it.
package keymat

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
)

// Key format: prefix + RandomLen base62 characters of randomness +
// ChecksumLen base62 characters encoding the CRC32 (IEEE) of
// prefix+random, big-endian, left-padded with '0'.
const (
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	RandomLen      = 32
	ChecksumLen    = 6
	// Length is the length of a key after its prefix.
	Length = RandomLen + ChecksumLen

	// MaxLen bounds the length of a presented key; longer keys are
	// malformed (and never hashed).
	MaxLen = 512
	// MaxPrefixLen bounds the length of a key prefix (key_format.prefix).
	MaxPrefixLen = 64
)

// Errors returned by CheckFormat, Check and Generate.
var (
	ErrPrefix    = errors.New("keymat: key does not start with the expected prefix")
	ErrLength    = errors.New("keymat: key has the wrong length")
	ErrCharset   = errors.New("keymat: key contains a character outside the base62 alphabet")
	ErrChecksum  = errors.New("keymat: key checksum does not match")
	ErrBadPrefix = errors.New("keymat: key prefix must be at most 64 printable ASCII characters without spaces")
	ErrRandom    = errors.New("keymat: random source failed to produce enough unbiased bytes")
)

// Generate returns a new key: prefix, 32 base62 characters drawn without
// bias from rand, and 6 base62 characters encoding the CRC32 (IEEE) of
// everything before them. Use crypto/rand.Reader in production.
func Generate(prefix string, rand io.Reader) (string, error) {
	if !ValidPrefix(prefix) {
		return "", ErrBadPrefix
	}
	if rand == nil {
		return "", ErrRandom
	}
	b := make([]byte, 0, len(prefix)+RandomLen+ChecksumLen)
	b = append(b, prefix...)
	var buf [64]byte
	// 248 = 4*62: bytes >= 248 are rejected so that every character is
	// equally likely. Give up after a bounded number of reads so that a
	// broken reader cannot make us loop forever.
	for n, reads := 0, 0; n < RandomLen; reads++ {
		if reads == 16 {
			return "", ErrRandom
		}
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return "", errors.Join(ErrRandom, err)
		}
		for _, c := range buf {
			if c < 248 && n < RandomLen {
				b = append(b, base62Alphabet[c%62])
				n++
			}
		}
	}
	b = appendBase62(b, crc32.ChecksumIEEE(b))
	return string(b), nil
}

// CheckFormat reports whether key has the given prefix, the right length,
// only base62 characters after the prefix and a correct checksum. It returns
// nil for a well-formed key, otherwise ErrPrefix, ErrLength, ErrCharset or ErrChecksum.
func CheckFormat(prefix, key string) error {
	return Check(prefix, key, true)
}

// Check is CheckFormat with an optional checksum verification. It does
// not allocate: policy checks every presented key with it.
func Check(prefix, key string, checksum bool) error {
	if len(key) < len(prefix) || key[:len(prefix)] != prefix {
		return ErrPrefix
	}
	if !checksum {
		return nil
	}
	if len(key) != len(prefix)+RandomLen+ChecksumLen {
		return ErrLength
	}
	for i := len(prefix); i < len(key); i++ {
		if base62Value(key[i]) < 0 {
			return ErrCharset
		}
	}
	body := key[:len(key)-ChecksumLen]
	crc := crc32String(body)
	var sum [ChecksumLen]byte
	appendBase62(sum[:0], crc)
	if string(sum[:]) != key[len(body):] {
		return ErrChecksum
	}
	return nil
}

// Hash returns the lowercase hex SHA-256 of key, the form stored in the
// configuration's "sha256" fields.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// appendBase62 appends v as ChecksumLen base62 digits, most significant
// first, left-padded with '0'. 62^6 > 2^32, so every uint32 fits.
func appendBase62(b []byte, v uint32) []byte {
	var d [ChecksumLen]byte
	for i := ChecksumLen - 1; i >= 0; i-- {
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

// ValidPrefix reports whether prefix is usable in a key: at most
// MaxPrefixLen visible ASCII characters.
func ValidPrefix(prefix string) bool {
	return len(prefix) <= MaxPrefixLen && VisibleASCII(prefix)
}

// VisibleASCII reports whether s consists only of visible ASCII characters
// (0x21..0x7E): no spaces, no control characters, nothing beyond ASCII. A
// key is; so are the identifiers of a configuration.
func VisibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
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
