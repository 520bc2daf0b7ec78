package keysnap

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"sort"
	"strconv"
)

// Encode writes s as a snapshot, signed with priv unless priv is nil. Keys
// are sorted by digest; a duplicate digest, a consumer index out of range
// or an id out of bounds is an error.
func Encode(s *Snapshot, priv ed25519.PrivateKey) ([]byte, error) {
	if len(s.Consumers) > MaxConsumers-1 || len(s.Keys) > MaxKeys {
		return nil, errors.New("keysnap: too many consumers or keys")
	}
	if len(s.Audience) > MaxAudienceLen || !visibleASCII(s.Audience) {
		return nil, errors.New("keysnap: audience must be at most 63 visible ASCII characters")
	}
	version, hsize, signed := uint16(Version), HeaderSize, signedSize
	switch s.Version {
	case 0, Version:
	case VersionV1:
		version, hsize, signed = VersionV1, HeaderSizeV1, signedSizeV1
		if s.Audience != "" {
			return nil, errors.New("keysnap: version 1 has no audience")
		}
	default:
		return nil, errors.New("keysnap: cannot write version " + strconv.Itoa(int(s.Version)))
	}
	cons, err := encodeConsumers(s.Consumers, version)
	if err != nil {
		return nil, err
	}
	recs, ids, valid, err := encodeKeys(s)
	if err != nil {
		return nil, err
	}
	if len(cons) > math.MaxUint32 || len(ids) > math.MaxUint32 {
		return nil, errors.New("keysnap: snapshot too large")
	}
	bodyLen := len(cons) + len(recs) + len(ids) + len(valid)
	out := make([]byte, hsize, hsize+bodyLen)
	copy(out, Magic)
	le := binary.LittleEndian
	le.PutUint16(out[8:], version)
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
	if version == Version {
		out[96] = byte(len(s.Audience))
		copy(out[97:], s.Audience)
	}
	out = append(out, cons...)
	out = append(out, recs...)
	out = append(out, ids...)
	out = append(out, valid...)
	sum := sha256.Sum256(out[hsize:])
	copy(out[64:96], sum[:])
	if priv != nil {
		copy(out[signed:hsize], ed25519.Sign(priv, out[:signed]))
	}
	return out, nil
}

// encodeConsumers writes the consumer section in format version.
func encodeConsumers(consumers []Consumer, version uint16) ([]byte, error) {
	var cons []byte
	for i, c := range consumers {
		if len(c.ID) == 0 || len(c.ID) > MaxIDLen || len(c.RateLimit) > 255 || len(c.Quota) > 255 || len(c.Scopes) > math.MaxUint16 {
			return nil, errors.New("keysnap: consumer " + strconv.Itoa(i) + ": id, rate limit, quota or scopes out of bounds")
		}
		cons = binary.LittleEndian.AppendUint16(cons, uint16(len(c.ID)))
		cons = append(cons, c.ID...)
		cons = append(cons, byte(len(c.RateLimit)))
		cons = append(cons, c.RateLimit...)
		if version == Version {
			cons = append(cons, byte(len(c.Quota)))
			cons = append(cons, c.Quota...)
		} else if c.Quota != "" {
			return nil, errors.New("keysnap: version 1 has no quotas")
		}
		cons = binary.LittleEndian.AppendUint16(cons, uint16(len(c.Scopes)))
		for _, sc := range c.Scopes {
			if len(sc) > math.MaxUint16 {
				return nil, errors.New("keysnap: scope too long")
			}
			cons = binary.LittleEndian.AppendUint16(cons, uint16(len(sc)))
			cons = append(cons, sc...)
		}
	}
	return cons, nil
}

// encodeKeys writes the key records (sorted by digest), the key ids and the
// distinct validity windows of s.
func encodeKeys(s *Snapshot) (recs, ids, valid []byte, err error) {
	order := make([]int, len(s.Keys))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		return bytes.Compare(s.Keys[order[a]].Digest[:], s.Keys[order[b]].Digest[:]) < 0
	})
	recs = make([]byte, 0, len(s.Keys)*RecordSize)
	windows := map[[2]int64]int{}
	for n, i := range order {
		k := &s.Keys[i]
		if n > 0 && s.Keys[order[n-1]].Digest == k.Digest {
			return nil, nil, nil, errors.New("keysnap: duplicate key digest (key ids " + strconv.Quote(s.Keys[order[n-1]].ID) + " and " + strconv.Quote(k.ID) + ")")
		}
		if k.Consumer < 0 || k.Consumer >= len(s.Consumers) || len(k.ID) == 0 || len(k.ID) > MaxIDLen {
			return nil, nil, nil, errors.New("keysnap: key " + strconv.Quote(k.ID) + ": consumer or id out of bounds")
		}
		flags := byte(0)
		if k.Revoked {
			flags |= FlagRevoked
		}
		w := 0
		if k.NotBefore != NoLowerBound || k.NotAfter != NoUpperBound {
			if k.NotAfter <= k.NotBefore {
				return nil, nil, nil, errors.New("keysnap: key " + strconv.Quote(k.ID) + ": not_after must be after not_before")
			}
			win := [2]int64{k.NotBefore, k.NotAfter}
			if w = windows[win]; w == 0 {
				if len(windows) == MaxWindows {
					return nil, nil, nil, errors.New("keysnap: too many distinct validity windows")
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
	return recs, ids, valid, nil
}
