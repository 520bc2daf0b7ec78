// Package keysnap is the binary format of a key snapshot: the consumers and
// keys of an apiguard configuration, signed with Ed25519, that the filter
// fetches from a key store instead of reading them from its configuration.
//
// A snapshot is a fixed header followed by a body:
//
//	header (HeaderSize bytes, little-endian)
//	  0  magic "APGKSNAP"
//	  8  version uint16 (1), flags uint16 (bit 0: signed), reserved uint32
//	 16  generation uint64 (larger is newer)
//	 24  created int64 (Unix nanoseconds)
//	 32  consumers uint32, keys uint32
//	 40  consumer section bytes uint32, key id section bytes uint32
//	 48  validity windows uint32, reserved uint32
//	 56  body length uint64
//	 64  SHA-256 of the body (32 bytes)
//	 96  Ed25519 signature of bytes 0..96 (64 bytes; zero when unsigned)
//	body
//	  consumers: per consumer, id (u16 length + bytes), rate-limit policy
//	             name (u8 length + bytes, empty for none), scopes (u16 count,
//	             each u16 length + bytes)
//	  keys:      keys × RecordSize bytes, sorted by digest, strictly
//	             ascending: digest [32], consumer index u24, flags u8
//	             (bit 0 revoked), key id length-1 u8, validity window u24
//	             (0 for none, else 1 + an index into the windows)
//	  key ids:   the key ids, back to back, in key order
//	  windows:   the distinct validity windows × WindowSize bytes:
//	             not_before int64, not_after int64 (Unix nanoseconds;
//	             math.MinInt64 / math.MaxInt64 when unbounded)
//
// Keys issued together share a window, so a large key set with expiry
// dates costs 3 bytes per key for them, not 16.
//
// The signature covers the header, and through the digest the body. A
// reader checks the header and the signature first (cheap), then hashes
// the body in steps (Hasher), so that a large snapshot can be verified
// without one long computation.
package keysnap

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"math"
	"sort"
	"strconv"
	"time"
)

// Format constants.
const (
	Magic      = "APGKSNAP"
	Version    = 1
	HeaderSize = 160
	// SignedSize is how much of the header the signature covers.
	SignedSize = 96
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
	Consumers  []Consumer
	Keys       []Key
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

// Encode writes s as a snapshot, signed with priv unless priv is nil. Keys
// are sorted by digest; a duplicate digest, a consumer index out of range
// or an id out of bounds is an error.
func Encode(s *Snapshot, priv ed25519.PrivateKey) ([]byte, error) {
	if len(s.Consumers) > MaxConsumers-1 || len(s.Keys) > MaxKeys {
		return nil, errors.New("keysnap: too many consumers or keys")
	}
	var cons []byte
	for i, c := range s.Consumers {
		if len(c.ID) == 0 || len(c.ID) > MaxIDLen || len(c.RateLimit) > 255 || len(c.Scopes) > math.MaxUint16 {
			return nil, errors.New("keysnap: consumer " + strconv.Itoa(i) + ": id, rate limit or scopes out of bounds")
		}
		cons = binary.LittleEndian.AppendUint16(cons, uint16(len(c.ID)))
		cons = append(cons, c.ID...)
		cons = append(cons, byte(len(c.RateLimit)))
		cons = append(cons, c.RateLimit...)
		cons = binary.LittleEndian.AppendUint16(cons, uint16(len(c.Scopes)))
		for _, sc := range c.Scopes {
			if len(sc) > math.MaxUint16 {
				return nil, errors.New("keysnap: scope too long")
			}
			cons = binary.LittleEndian.AppendUint16(cons, uint16(len(sc)))
			cons = append(cons, sc...)
		}
	}
	order := make([]int, len(s.Keys))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		return bytes.Compare(s.Keys[order[a]].Digest[:], s.Keys[order[b]].Digest[:]) < 0
	})
	recs := make([]byte, 0, len(s.Keys)*RecordSize)
	var ids, valid []byte
	windows := map[[2]int64]int{}
	for n, i := range order {
		k := &s.Keys[i]
		if n > 0 && s.Keys[order[n-1]].Digest == k.Digest {
			return nil, errors.New("keysnap: duplicate key digest (key ids " + strconv.Quote(s.Keys[order[n-1]].ID) + " and " + strconv.Quote(k.ID) + ")")
		}
		if k.Consumer < 0 || k.Consumer >= len(s.Consumers) || len(k.ID) == 0 || len(k.ID) > MaxIDLen {
			return nil, errors.New("keysnap: key " + strconv.Quote(k.ID) + ": consumer or id out of bounds")
		}
		flags := byte(0)
		if k.Revoked {
			flags |= FlagRevoked
		}
		w := 0
		if k.NotBefore != NoLowerBound || k.NotAfter != NoUpperBound {
			if k.NotAfter <= k.NotBefore {
				return nil, errors.New("keysnap: key " + strconv.Quote(k.ID) + ": not_after must be after not_before")
			}
			win := [2]int64{k.NotBefore, k.NotAfter}
			if w = windows[win]; w == 0 {
				if len(windows) == MaxWindows {
					return nil, errors.New("keysnap: too many distinct validity windows")
				}
				w = len(windows) + 1
				windows[win] = w
				valid = binary.LittleEndian.AppendUint64(valid, uint64(k.NotBefore))
				valid = binary.LittleEndian.AppendUint64(valid, uint64(k.NotAfter))
			}
		}
		recs = append(recs, k.Digest[:]...)
		recs = append(recs, byte(k.Consumer), byte(k.Consumer>>8), byte(k.Consumer>>16), flags, byte(len(k.ID)-1),
			byte(w), byte(w>>8), byte(w>>16))
		ids = append(ids, k.ID...)
	}
	if len(cons) > math.MaxUint32 || len(ids) > math.MaxUint32 {
		return nil, errors.New("keysnap: snapshot too large")
	}
	bodyLen := len(cons) + len(recs) + len(ids) + len(valid)
	out := make([]byte, HeaderSize, HeaderSize+bodyLen)
	copy(out, Magic)
	le := binary.LittleEndian
	le.PutUint16(out[8:], Version)
	if priv != nil {
		le.PutUint16(out[10:], flagSigned)
	}
	le.PutUint64(out[16:], s.Generation)
	le.PutUint64(out[24:], uint64(s.Created.UnixNano()))
	le.PutUint32(out[32:], uint32(len(s.Consumers)))
	le.PutUint32(out[36:], uint32(len(s.Keys)))
	le.PutUint32(out[40:], uint32(len(cons)))
	le.PutUint32(out[44:], uint32(len(ids)))
	le.PutUint32(out[48:], uint32(len(valid)/WindowSize))
	le.PutUint64(out[56:], uint64(bodyLen))
	out = append(out, cons...)
	out = append(out, recs...)
	out = append(out, ids...)
	out = append(out, valid...)
	sum := sha256.Sum256(out[HeaderSize:])
	copy(out[64:96], sum[:])
	if priv != nil {
		copy(out[96:160], ed25519.Sign(priv, out[:SignedSize]))
	}
	return out, nil
}

// Header is a parsed snapshot header.
type Header struct {
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
	Signature     [64]byte
}

// CreatedTime returns Created as a time.
func (h *Header) CreatedTime() time.Time { return time.Unix(0, h.Created).UTC() }

// ParseHeader checks the header of the snapshot data and that the data has
// exactly the length it announces. It neither hashes the body nor checks
// the signature.
func ParseHeader(data []byte) (Header, error) {
	var h Header
	if len(data) < HeaderSize {
		if len(data) < len(Magic) && !bytes.HasPrefix([]byte(Magic), data) || len(data) >= len(Magic) && string(data[:len(Magic)]) != Magic {
			return h, corrupt("not a key snapshot (bad magic)")
		}
		return h, &causeError{ErrTruncated, strconv.Itoa(len(data)) + " bytes, shorter than the header"}
	}
	if string(data[:len(Magic)]) != Magic {
		return h, corrupt("not a key snapshot (bad magic)")
	}
	le := binary.LittleEndian
	h.Version = le.Uint16(data[8:])
	if h.Version != Version {
		return h, corrupt("unsupported format version " + strconv.Itoa(int(h.Version)))
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
	copy(h.Signature[:], data[96:160])
	if h.Consumers >= MaxConsumers || h.Keys > MaxKeys || h.Windows > h.Keys || h.Windows > MaxWindows {
		return h, corrupt("counts out of range")
	}
	want := uint64(h.ConsumerBytes) + uint64(h.Keys)*RecordSize + uint64(h.IDBytes) + uint64(h.Windows)*WindowSize
	if want != h.BodyLen {
		return h, corrupt("section sizes do not add up to the body length")
	}
	// Each consumer takes at least 6 bytes, each key id at least one.
	if uint64(h.Consumers)*6 > uint64(h.ConsumerBytes) || uint64(h.IDBytes) < uint64(h.Keys) || uint64(h.IDBytes) > uint64(h.Keys)*MaxIDLen {
		return h, corrupt("section sizes do not fit the counts")
	}
	if h.Keys > 0 && h.Consumers == 0 {
		return h, corrupt("keys without consumers")
	}
	switch got := uint64(len(data) - HeaderSize); {
	case got < h.BodyLen:
		return h, &causeError{ErrTruncated, strconv.FormatUint(got, 10) + " of " + strconv.FormatUint(h.BodyLen, 10) + " body bytes"}
	case got > h.BodyLen:
		return h, corrupt("trailing bytes after the body")
	}
	return h, nil
}

// VerifySignature checks the header's signature with pub. An unsigned
// snapshot fails with ErrUnsigned.
func VerifySignature(data []byte, h *Header, pub ed25519.PublicKey) error {
	if !h.Signed {
		return &causeError{ErrUnsigned, "a public key is configured"}
	}
	if len(pub) != ed25519.PublicKeySize || len(data) < HeaderSize {
		return &causeError{ErrBadSignature, "bad public key"}
	}
	if !ed25519.Verify(pub, data[:SignedSize], data[96:160]) {
		return &causeError{ErrBadSignature, "signature does not match the configured public key"}
	}
	return nil
}

// Hasher hashes a snapshot body in steps.
type Hasher struct {
	h    hash.Hash
	body []byte
	off  int
	want [32]byte
}

// NewHasher returns a Hasher of the body of data (whose header h was
// parsed by ParseHeader).
func NewHasher(data []byte, h *Header) *Hasher {
	return &Hasher{h: sha256.New(), body: data[HeaderSize:], want: h.Digest}
}

// Step hashes up to n more bytes. It returns done once the whole body is
// hashed, with ErrCorrupt when the digest does not match the header's.
func (x *Hasher) Step(n int) (done bool, err error) {
	end := min(len(x.body), x.off+n)
	x.h.Write(x.body[x.off:end])
	x.off = end
	if x.off < len(x.body) {
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

// Sections splits data into its sections.
func Sections(data []byte, h *Header) Body {
	b := data[HeaderSize:]
	c := int(h.ConsumerBytes)
	r := int(h.Keys) * RecordSize
	i := int(h.IDBytes)
	return Body{Consumers: b[:c:c], Records: b[c : c+r : c+r], IDs: b[c+r : c+r+i : c+r+i], Windows: b[c+r+i:]}
}

// ConsumerReader reads the consumer section one consumer at a time. The
// strings it returns are views of the section made with the conv function
// given to NewConsumerReader (so the caller chooses to copy or not).
type ConsumerReader struct {
	b    []byte
	conv func([]byte) string
}

// NewConsumerReader returns a reader of section; conv turns bytes of the
// section into strings.
func NewConsumerReader(section []byte, conv func([]byte) string) *ConsumerReader {
	return &ConsumerReader{b: section, conv: conv}
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
	if len(r.b) < 2 {
		return corrupt("bad scope count")
	}
	n := int(binary.LittleEndian.Uint16(r.b))
	r.b = r.b[2:]
	c.ID, c.RateLimit = r.conv(id), r.conv(rl)
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
