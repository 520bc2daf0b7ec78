// Package keysnap is the binary format of a key snapshot: the consumers and
// keys of an apiguard configuration, signed with Ed25519, that the filter
// fetches from a key store instead of reading them from its configuration.
//
// A snapshot is a fixed header followed by a body:
//
//	header (HeaderSize bytes, little-endian; version 2)
//	  0  magic "APGKSNAP"
//	  8  version uint16 (2), flags uint16 (bit 0: signed), reserved uint32
//	 16  generation uint64 (larger is newer)
//	 24  created int64 (Unix nanoseconds)
//	 32  consumers uint32, keys uint32
//	 40  consumer section bytes uint32, key id section bytes uint32
//	 48  validity windows uint32, reserved uint32
//	 56  body length uint64
//	 64  SHA-256 of the body (32 bytes)
//	 96  audience: length u8, then up to MaxAudienceLen bytes, zero padded
//	     to 64 bytes ("" for a snapshot valid everywhere)
//	160  Ed25519 signature of bytes 0..160 (64 bytes; zero when unsigned)
//	body
//	  consumers: per consumer, id (u16 length + bytes), rate-limit policy
//	             name (u8 length + bytes, empty for none), quota name (u8
//	             length + bytes, empty for none), scopes (u16 count, each
//	             u16 length + bytes)
//	  keys:      keys × RecordSize bytes, sorted by digest, strictly
//	             ascending: digest [32], consumer index u24, flags u8
//	             (bit 0 revoked), key id length-1 u8, validity window u24
//	             (0 for none, else 1 + an index into the windows)
//	  key ids:   the key ids, back to back, in key order
//	  windows:   the distinct validity windows × WindowSize bytes:
//	             not_before int64, not_after int64 (Unix nanoseconds;
//	             math.MinInt64 / math.MaxInt64 when unbounded)
//
// Version 1 (HeaderSizeV1 bytes: no audience, the signature at 96 over
// bytes 0..96, and consumers without a quota name) is still read, so that
// a snapshot built before quotas loads; Encode writes version 2 only.
//
// Keys issued together share a window, so a large key set with expiry
// dates costs 3 bytes per key for them, not 16.
//
// The signature covers the header, and through the digest the body. A
// reader checks the header and the signature first, from the header's bytes
// alone (ParseHeaderPrefix: a filter fetching in ranges does it on the first
// range, before it allocates room for the body), then hashes the body in
// steps (Hasher), so that a large snapshot is verified without one long
// computation.
package keysnap

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"hash"
	"math"
	"strconv"
	"time"
)

// Format constants.
const (
	Magic = "APGKSNAP"
	// Version is the format Encode writes; VersionV1 is still read.
	Version   = 2
	VersionV1 = 1
	// HeaderSize is the size of a version 2 header, HeaderSizeV1 of a
	// version 1 header. A reader needs MaxHeaderSize bytes (or the whole
	// snapshot, when shorter) to check any header.
	HeaderSize    = 224
	HeaderSizeV1  = 160
	MaxHeaderSize = HeaderSize
	// MaxAudienceLen is the longest audience.
	MaxAudienceLen = 63
	// RecordSize is the size of one key record.
	RecordSize = 40
	// WindowSize is the size of one validity window.
	WindowSize = 16
	// MaxWindows is the most distinct validity windows (u24, minus none).
	MaxWindows = 1<<24 - 1

	// MaxConsumers is the most consumers a snapshot can index (u24).
	MaxConsumers = 1 << 24
	// MaxKeys bounds the key count, so that sizes fit in 32 bits.
	MaxKeys = 1 << 26
	// MaxIDLen is the longest consumer or key id.
	MaxIDLen = 256

	flagSigned = 1

	// FlagRevoked is the bit of a key record's flags.
	FlagRevoked = 1
)

// Unbounded validity limits.
const (
	NoLowerBound = math.MinInt64
	NoUpperBound = math.MaxInt64
)

// Consumer is one consumer of a snapshot.
type Consumer struct {
	ID        string
	Scopes    []string
	RateLimit string // "" for none
	Quota     string // "" for none (version 2)
}

// Key is one key of a snapshot.
type Key struct {
	Digest              [32]byte // SHA-256 of the raw key
	Consumer            int      // index into Snapshot.Consumers
	ID                  string
	Revoked             bool
	NotBefore, NotAfter int64 // Unix nanoseconds, NoLowerBound / NoUpperBound when absent
}

// Snapshot is the content of a snapshot, for Encode.
type Snapshot struct {
	Generation uint64
	Created    time.Time
	// Audience binds the snapshot to the deployments whose key_store names
	// the same audience ("" for none); it is signed with the header.
	Audience string
	// Version is the format to write: 0 for Version; VersionV1 (no
	// audience, no quotas) only to test that old snapshots still load.
	Version   uint16
	Consumers []Consumer
	Keys      []Key
}

// Errors. Every error a reader returns wraps exactly one of these, so that
// callers can count rejections by cause.
var (
	ErrTruncated    = errors.New("keysnap: snapshot is truncated")
	ErrCorrupt      = errors.New("keysnap: snapshot is corrupt")
	ErrUnsigned     = errors.New("keysnap: snapshot is not signed")
	ErrBadSignature = errors.New("keysnap: signature does not verify")
)

type causeError struct {
	cause error
	msg   string
}

func (e *causeError) Error() string { return e.cause.Error() + ": " + e.msg }
func (e *causeError) Unwrap() error { return e.cause }

func corrupt(msg string) error { return &causeError{ErrCorrupt, msg} }

// signedSize is how much of a version 2 header the signature covers (the
// signature follows it); signedSizeV1 the same for version 1.
const (
	signedSize   = 160
	signedSizeV1 = 96
)

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Header is a parsed snapshot header.
type Header struct {
	// Size is the header's size in bytes: HeaderSize, or HeaderSizeV1.
	Size          int
	Version       uint16
	Signed        bool
	Generation    uint64
	Created       int64 // Unix nanoseconds
	Consumers     uint32
	Keys          uint32
	ConsumerBytes uint32
	IDBytes       uint32
	Windows       uint32
	BodyLen       uint64
	Digest        [32]byte
	Audience      string
	Signature     [64]byte
}

// Total is the size of the whole snapshot the header announces.
func (h *Header) Total() uint64 { return uint64(h.Size) + h.BodyLen }

// CreatedTime returns Created as a time.
func (h *Header) CreatedTime() time.Time { return time.Unix(0, h.Created).UTC() }

// ParseHeaderPrefix checks the header at the start of data, which may hold
// the header alone or any prefix of the snapshot that includes it (the
// first range of a ranged fetch): the magic, the version, the flags, and
// that the section sizes add up to the body length and fit the counts. It
// neither hashes the body nor checks the signature, and it does not look at
// the data after the header. A prefix shorter than the header fails with
// ErrTruncated, unless what it holds already shows that it is no snapshot.
func ParseHeaderPrefix(data []byte) (Header, error) {
	var h Header
	if len(data) < len(Magic) {
		if !bytes.HasPrefix([]byte(Magic), data) {
			return h, corrupt("not a key snapshot (bad magic)")
		}
		return h, &causeError{ErrTruncated, strconv.Itoa(len(data)) + " bytes, shorter than the header"}
	}
	if string(data[:len(Magic)]) != Magic {
		return h, corrupt("not a key snapshot (bad magic)")
	}
	if len(data) < 10 {
		return h, &causeError{ErrTruncated, strconv.Itoa(len(data)) + " bytes, shorter than the header"}
	}
	le := binary.LittleEndian
	h.Version = le.Uint16(data[8:])
	switch h.Version {
	case Version:
		h.Size = HeaderSize
	case VersionV1:
		h.Size = HeaderSizeV1
	default:
		return h, corrupt("unsupported format version " + strconv.Itoa(int(h.Version)) +
			" (this build reads versions 1 and 2: build the snapshot with the apiguard release that runs in the proxies)")
	}
	if len(data) < h.Size {
		return h, &causeError{ErrTruncated, strconv.Itoa(len(data)) + " bytes, shorter than the header"}
	}
	flags := le.Uint16(data[10:])
	if flags&^flagSigned != 0 || le.Uint32(data[12:]) != 0 || le.Uint32(data[52:]) != 0 {
		return h, corrupt("unknown flags or reserved bits set")
	}
	h.Signed = flags&flagSigned != 0
	h.Generation = le.Uint64(data[16:])
	h.Created = int64(le.Uint64(data[24:]))
	h.Consumers = le.Uint32(data[32:])
	h.Keys = le.Uint32(data[36:])
	h.ConsumerBytes = le.Uint32(data[40:])
	h.IDBytes = le.Uint32(data[44:])
	h.Windows = le.Uint32(data[48:])
	h.BodyLen = le.Uint64(data[56:])
	copy(h.Digest[:], data[64:96])
	sig := signedSizeV1
	if h.Version == Version {
		sig = signedSize
		n := int(data[96])
		aud := data[97 : 97+MaxAudienceLen]
		if n > MaxAudienceLen || !visibleASCII(string(aud[:n])) || !allZero(aud[n:]) {
			return h, corrupt("bad audience")
		}
		h.Audience = string(aud[:n])
	}
	copy(h.Signature[:], data[sig:sig+64])
	if h.Consumers >= MaxConsumers || h.Keys > MaxKeys || h.Windows > h.Keys || h.Windows > MaxWindows {
		return h, corrupt("counts out of range")
	}
	want := uint64(h.ConsumerBytes) + uint64(h.Keys)*RecordSize + uint64(h.IDBytes) + uint64(h.Windows)*WindowSize
	if want != h.BodyLen {
		return h, corrupt("section sizes do not add up to the body length")
	}
	// Each consumer takes at least 6 bytes (7 in version 2), each key id
	// at least one.
	minConsumer := uint64(6)
	if h.Version == Version {
		minConsumer = 7
	}
	if uint64(h.Consumers)*minConsumer > uint64(h.ConsumerBytes) || uint64(h.IDBytes) < uint64(h.Keys) || uint64(h.IDBytes) > uint64(h.Keys)*MaxIDLen {
		return h, corrupt("section sizes do not fit the counts")
	}
	if h.Keys > 0 && h.Consumers == 0 {
		return h, corrupt("keys without consumers")
	}
	return h, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// ParseHeader checks the header of the whole snapshot data
// (ParseHeaderPrefix) and that the data has exactly the length it
// announces. It neither hashes the body nor checks the signature.
func ParseHeader(data []byte) (Header, error) {
	h, err := ParseHeaderPrefix(data)
	if err != nil {
		return h, err
	}
	return h, h.CheckLen(len(data))
}

// CheckLen checks that a snapshot of n bytes has the length its header h
// announces.
func (h *Header) CheckLen(n int) error {
	if n < h.Size {
		return &causeError{ErrTruncated, "the header is cut short"}
	}
	switch got := uint64(n - h.Size); {
	case got < h.BodyLen:
		return &causeError{ErrTruncated, strconv.FormatUint(got, 10) + " of " + strconv.FormatUint(h.BodyLen, 10) + " body bytes"}
	case got > h.BodyLen:
		return corrupt("trailing bytes after the body")
	}
	return nil
}

// VerifySignature checks the header's signature with pub; data holds at
// least the header (ParseHeaderPrefix parsed h from it). An unsigned
// snapshot fails with ErrUnsigned.
func VerifySignature(data []byte, h *Header, pub ed25519.PublicKey) error {
	if !h.Signed {
		return &causeError{ErrUnsigned, "a public key is configured"}
	}
	if len(pub) != ed25519.PublicKeySize || h.Size == 0 || len(data) < h.Size {
		return &causeError{ErrBadSignature, "bad public key"}
	}
	if !ed25519.Verify(pub, data[:h.Size-64], data[h.Size-64:h.Size]) {
		return &causeError{ErrBadSignature, "signature does not match the configured public key"}
	}
	return nil
}

// Hasher hashes a snapshot body in steps.
type Hasher struct {
	h    hash.Hash
	buf  *Buffer
	off  int
	want [32]byte
}

// NewBufferHasher returns a Hasher of the body of the sealed buf (whose
// header h was parsed from its first bytes).
func NewBufferHasher(buf *Buffer, h *Header) *Hasher {
	return &Hasher{h: newBodyHash(), buf: buf, off: h.Size, want: h.Digest}
}

// Step hashes up to n more bytes. It returns done once the whole body is
// hashed, with ErrCorrupt when the digest does not match the header's.
func (x *Hasher) Step(n int) (done bool, err error) {
	x.buf.Chunks(x.off, func(s []byte) bool {
		s = s[:min(len(s), n)]
		x.h.Write(s)
		x.off += len(s)
		n -= len(s)
		return n > 0
	})
	if x.off < x.buf.Total() {
		return false, nil
	}
	var sum [32]byte
	x.h.Sum(sum[:0])
	if sum != x.want {
		return true, corrupt("body does not match the content digest")
	}
	return true, nil
}

// Body is a view of the sections of a snapshot whose header was parsed.
type Body struct {
	Consumers []byte // the consumer section
	Records   []byte // the key records
	IDs       []byte // the key ids
	Windows   []byte // the validity windows
}

// Offsets returns where each section of a snapshot with header h starts,
// counted from the snapshot's first byte, and where the body ends.
func (h *Header) Offsets() (consumers, records, ids, windows, end int) {
	consumers = h.Size
	records = consumers + int(h.ConsumerBytes)
	ids = records + int(h.Keys)*RecordSize
	windows = ids + int(h.IDBytes)
	return consumers, records, ids, windows, windows + int(h.Windows)*WindowSize
}

// Sections splits data into its sections.
func Sections(data []byte, h *Header) Body {
	b := data[h.Size:]
	c := int(h.ConsumerBytes)
	r := int(h.Keys) * RecordSize
	i := int(h.IDBytes)
	return Body{Consumers: b[:c:c], Records: b[c : c+r : c+r], IDs: b[c+r : c+r+i : c+r+i], Windows: b[c+r+i:]}
}

// ConsumerReader reads the consumer section one consumer at a time. The
// strings it returns are views of the section made with the conv function
// given to NewConsumerReader (so the caller chooses to copy or not).
type ConsumerReader struct {
	b     []byte
	conv  func([]byte) string
	quota bool // version 2: consumers name a quota
}

// NewConsumerReader returns a reader of the consumer section of a snapshot
// of format version; conv turns bytes of the section into strings.
func NewConsumerReader(section []byte, version uint16, conv func([]byte) string) *ConsumerReader {
	return &ConsumerReader{b: section, conv: conv, quota: version >= Version}
}

// Remaining reports how many bytes are left.
func (r *ConsumerReader) Remaining() int { return len(r.b) }

// Next reads the next consumer into c (reusing c.Scopes).
func (r *ConsumerReader) Next(c *Consumer) error {
	id, ok := r.str16()
	if !ok || len(id) == 0 || len(id) > MaxIDLen {
		return corrupt("bad consumer id")
	}
	if len(r.b) < 1 || len(r.b) < 1+int(r.b[0]) {
		return corrupt("bad rate limit name")
	}
	rl := r.b[1 : 1+int(r.b[0])]
	r.b = r.b[1+len(rl):]
	var quota []byte
	if r.quota {
		if len(r.b) < 1 || len(r.b) < 1+int(r.b[0]) {
			return corrupt("bad quota name")
		}
		quota = r.b[1 : 1+int(r.b[0])]
		r.b = r.b[1+len(quota):]
	}
	if len(r.b) < 2 {
		return corrupt("bad scope count")
	}
	n := int(binary.LittleEndian.Uint16(r.b))
	r.b = r.b[2:]
	c.ID, c.RateLimit, c.Quota = r.conv(id), r.conv(rl), r.conv(quota)
	c.Scopes = c.Scopes[:0]
	for i := 0; i < n; i++ {
		s, ok := r.str16()
		if !ok {
			return corrupt("bad scope")
		}
		c.Scopes = append(c.Scopes, r.conv(s))
	}
	return nil
}

func (r *ConsumerReader) str16() ([]byte, bool) {
	if len(r.b) < 2 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint16(r.b))
	if len(r.b) < 2+n {
		return nil, false
	}
	s := r.b[2 : 2+n]
	r.b = r.b[2+n:]
	return s, true
}

// Record returns the fields of key record i of records: window is 0 for
// none, else 1 + the index of the key's validity window.
func Record(records []byte, i int) (digest []byte, consumer uint32, flags byte, idLen int, window uint32) {
	r := records[i*RecordSize : (i+1)*RecordSize]
	return r[:32], uint32(r[32]) | uint32(r[33])<<8 | uint32(r[34])<<16, r[35], int(r[36]) + 1,
		uint32(r[37]) | uint32(r[38])<<8 | uint32(r[39])<<16
}

// Window returns validity window i (0-based) of windows.
func Window(windows []byte, i int) (notBefore, notAfter int64) {
	v := windows[i*WindowSize:]
	le := binary.LittleEndian
	return int64(le.Uint64(v)), int64(le.Uint64(v[8:]))
}
