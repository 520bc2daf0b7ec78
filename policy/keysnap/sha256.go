package keysnap

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math/bits"
	"runtime"
)

// newBodyHash returns the SHA-256 the body of a snapshot is hashed with:
// crypto/sha256, except in WebAssembly, where crypto/sha256 runs a generic
// block function that Go's wasm backend compiles to code about 2.5 times
// slower than digest's. A million keys are 56 MB to hash, most of a
// filter's load of them.
func newBodyHash() hash.Hash {
	if runtime.GOARCH == "wasm" {
		return newDigest()
	}
	return sha256.New()
}

// digest is SHA-256 (FIPS 180-4) written for Go's WebAssembly code: the
// block function keeps the message schedule in sixteen local variables
// and runs the rounds sixteen at a time, renaming the working variables
// instead of moving them, so that they stay in the VM's registers. Its
// sums are checked against crypto/sha256 (TestDigest, FuzzDigest).
type digest struct {
	h   [8]uint32
	x   [64]byte // a partial block
	nx  int
	len uint64
}

func newDigest() *digest {
	d := &digest{}
	d.Reset()
	return d
}

func (d *digest) Reset() {
	d.h = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}
	d.nx, d.len = 0, 0
}

func (d *digest) Size() int      { return sha256.Size }
func (d *digest) BlockSize() int { return sha256.BlockSize }

func (d *digest) Write(p []byte) (int, error) {
	n := len(p)
	d.len += uint64(n)
	if d.nx > 0 {
		k := copy(d.x[d.nx:], p)
		d.nx += k
		p = p[k:]
		if d.nx < len(d.x) {
			return n, nil
		}
		block(&d.h, d.x[:])
		d.nx = 0
	}
	if full := len(p) &^ 63; full > 0 {
		block(&d.h, p[:full])
		p = p[full:]
	}
	d.nx = copy(d.x[:], p)
	return n, nil
}

// Sum256 returns the SHA-256 of data: crypto/sha256's natively,
// digest's in WebAssembly, without allocating. The filter hashes presented
// keys with it.
func Sum256(data []byte) [32]byte {
	if runtime.GOARCH != "wasm" {
		return sha256.Sum256(data)
	}
	var d digest
	d.Reset()
	d.Write(data)
	return d.sum()
}

// Sum appends the digest of what was written to b; d is unchanged.
func (d *digest) Sum(b []byte) []byte {
	s := d.sum()
	return append(b, s[:]...)
}

// sum returns the digest of what was written; d is unchanged.
func (d *digest) sum() (out [32]byte) {
	c := *d
	var pad [72]byte // 0x80, zeros, the length in bits
	pad[0] = 0x80
	n := 56 - int(c.len%64)
	if n < 1 {
		n += 64
	}
	binary.BigEndian.PutUint64(pad[n:], c.len*8)
	c.Write(pad[:n+8])
	for i, v := range c.h {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}

// sched is the message schedule's next word from the words 2, 7, 15 and
// 16 before it.
func sched(w2, w7, w15, w16 uint32) uint32 {
	return (bits.RotateLeft32(w2, -17) ^ bits.RotateLeft32(w2, -19) ^ w2>>10) + w7 +
		(bits.RotateLeft32(w15, -7) ^ bits.RotateLeft32(w15, -18) ^ w15>>3) + w16
}

// round is one round on the working variables a to h, with kw the round
// constant plus the schedule's word: it returns the new d and h (the
// caller renames the variables instead of shifting them).
func round(a, b, c, d, e, f, g, h, kw uint32) (uint32, uint32) {
	t1 := h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + (g ^ (e & (f ^ g))) + kw
	t2 := (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) | (c & (a | b)))
	return d + t1, t1 + t2
}

// block hashes the whole 64-byte blocks of p into dig.
func block(dig *[8]uint32, p []byte) {
	h0, h1, h2, h3, h4, h5, h6, h7 := dig[0], dig[1], dig[2], dig[3], dig[4], dig[5], dig[6], dig[7]
	for len(p) >= 64 {
		q := p[:64:64]
		w0 := binary.BigEndian.Uint32(q[0:])
		w1 := binary.BigEndian.Uint32(q[4:])
		w2 := binary.BigEndian.Uint32(q[8:])
		w3 := binary.BigEndian.Uint32(q[12:])
		w4 := binary.BigEndian.Uint32(q[16:])
		w5 := binary.BigEndian.Uint32(q[20:])
		w6 := binary.BigEndian.Uint32(q[24:])
		w7 := binary.BigEndian.Uint32(q[28:])
		w8 := binary.BigEndian.Uint32(q[32:])
		w9 := binary.BigEndian.Uint32(q[36:])
		w10 := binary.BigEndian.Uint32(q[40:])
		w11 := binary.BigEndian.Uint32(q[44:])
		w12 := binary.BigEndian.Uint32(q[48:])
		w13 := binary.BigEndian.Uint32(q[52:])
		w14 := binary.BigEndian.Uint32(q[56:])
		w15 := binary.BigEndian.Uint32(q[60:])
		a, b, c, d, e, f, g, h := h0, h1, h2, h3, h4, h5, h6, h7
		for j := 0; j < 64; j += 16 {
			if j > 0 {
				w0 = sched(w14, w9, w1, w0)
				w1 = sched(w15, w10, w2, w1)
				w2 = sched(w0, w11, w3, w2)
				w3 = sched(w1, w12, w4, w3)
				w4 = sched(w2, w13, w5, w4)
				w5 = sched(w3, w14, w6, w5)
				w6 = sched(w4, w15, w7, w6)
				w7 = sched(w5, w0, w8, w7)
				w8 = sched(w6, w1, w9, w8)
				w9 = sched(w7, w2, w10, w9)
				w10 = sched(w8, w3, w11, w10)
				w11 = sched(w9, w4, w12, w11)
				w12 = sched(w10, w5, w13, w12)
				w13 = sched(w11, w6, w14, w13)
				w14 = sched(w12, w7, w15, w14)
				w15 = sched(w13, w8, w0, w15)
			}
			k := sha256K[j : j+16 : j+16]
			d, h = round(a, b, c, d, e, f, g, h, k[0]+w0)
			c, g = round(h, a, b, c, d, e, f, g, k[1]+w1)
			b, f = round(g, h, a, b, c, d, e, f, k[2]+w2)
			a, e = round(f, g, h, a, b, c, d, e, k[3]+w3)
			h, d = round(e, f, g, h, a, b, c, d, k[4]+w4)
			g, c = round(d, e, f, g, h, a, b, c, k[5]+w5)
			f, b = round(c, d, e, f, g, h, a, b, k[6]+w6)
			e, a = round(b, c, d, e, f, g, h, a, k[7]+w7)
			d, h = round(a, b, c, d, e, f, g, h, k[8]+w8)
			c, g = round(h, a, b, c, d, e, f, g, k[9]+w9)
			b, f = round(g, h, a, b, c, d, e, f, k[10]+w10)
			a, e = round(f, g, h, a, b, c, d, e, k[11]+w11)
			h, d = round(e, f, g, h, a, b, c, d, k[12]+w12)
			g, c = round(d, e, f, g, h, a, b, c, k[13]+w13)
			f, b = round(c, d, e, f, g, h, a, b, k[14]+w14)
			e, a = round(b, c, d, e, f, g, h, a, k[15]+w15)
		}
		h0 += a
		h1 += b
		h2 += c
		h3 += d
		h4 += e
		h5 += f
		h6 += g
		h7 += h
		p = p[64:]
	}
	dig[0], dig[1], dig[2], dig[3], dig[4], dig[5], dig[6], dig[7] = h0, h1, h2, h3, h4, h5, h6, h7
}

// sha256K is the round constants.
var sha256K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
