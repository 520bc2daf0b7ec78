package policy

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math/rand"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy/keysnap"
)

// FuzzSnapshot loads arbitrary bytes as a key snapshot against a policy
// with a public key: no input may panic, and none may load unless it is
// signed by that key. An unsigned input (or one signed by another key) must
// be rejected; inputs that do load must decide requests without panicking.
func FuzzSnapshot(f *testing.F) {
	_, store, snap, _ := storeExample(f)
	_, other, _ := ed25519.GenerateKey(rand.New(rand.NewSource(9)))
	unsigned, _ := keysnap.Encode(&keysnap.Snapshot{Generation: 1, Consumers: []keysnap.Consumer{{ID: "a", Scopes: []string{"orders:read"}}},
		Keys: []keysnap.Key{{ID: "k", NotBefore: keysnap.NoLowerBound, NotAfter: keysnap.NoUpperBound}}}, nil)
	signedByOther, _ := keysnap.Encode(&keysnap.Snapshot{Generation: 1}, other)
	f.Add(snap)
	f.Add(unsigned)
	f.Add(signedByOther)
	f.Add(snap[:keysnap.HeaderSize])
	f.Add([]byte(keysnap.Magic))
	pub := store.KeyStore().PublicKey
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := store.LoadSnapshot(data)
		if err != nil {
			var le *LoadError
			if p != nil || !errors.As(err, &le) || le.Cause == 0 {
				t.Fatalf("LoadSnapshot error %T %v with policy %v", err, err, p != nil)
			}
			return
		}
		h, herr := keysnap.ParseHeader(data)
		if herr != nil || !h.Signed || keysnap.VerifySignature(data, &h, pub) != nil {
			t.Fatalf("loaded a snapshot not signed by the configured key (header %v)", herr)
		}
		for _, r := range []Request{
			get("/v1/orders", "x-api-key", "agk_DZb6eEPEZCMfOsNvDR08lgoCcQlu5El03VRRCC"),
			{Method: "GET", Path: "/v1/files/a", Headers: HeaderList{{"x-api-key", "k"}}, Now: time.Unix(0, 0)},
		} {
			if d := p.Decide(r); !validReason(d.Reason) {
				t.Fatalf("reason %q", d.Reason)
			}
		}
	})
}

// The unsigned-path loader (allow_unsigned) must not panic either, on any
// input: FuzzSnapshotUnsigned explores the body checks the signature
// otherwise guards.
func FuzzSnapshotUnsigned(f *testing.F) {
	store := mustCompile(f, `{"key_store": {"cluster": "k", "path": "/k", "allow_unsigned": true},
		"rate_limits": {"gold": {"requests": 1, "per": "1s"}},
		"routes": [{"name": "r", "path": "/r", "scopes": ["s"]}]}`)
	cons := []keysnap.Consumer{{ID: "a", Scopes: []string{"s", "t"}, RateLimit: "gold"}, {ID: "b"}}
	keys := []keysnap.Key{{ID: "k1", Consumer: 0, NotBefore: 5, NotAfter: 10}, {ID: "k2", Consumer: 1, Revoked: true,
		NotBefore: keysnap.NoLowerBound, NotAfter: keysnap.NoUpperBound}}
	keys[1].Digest[0] = 1
	good, err := keysnap.Encode(&keysnap.Snapshot{Generation: 3, Consumers: cons, Keys: keys}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		// A body the fuzzer changed no longer matches the digest: also try
		// it with the digest fixed, to reach the consumer and key checks.
		for _, d := range [][]byte{data, fixDigest(data)} {
			p, err := store.LoadSnapshot(d)
			if err != nil {
				continue
			}
			for _, r := range []Request{get("/r", "x-api-key", "k"), get("/x", "x-api-key", "agk_x")} {
				if dec := p.Decide(r); !validReason(dec.Reason) {
					t.Fatalf("reason %q", dec.Reason)
				}
			}
		}
	})
}

// fixDigest returns data with the header's content digest set to the
// SHA-256 of its body (when it has a header).
func fixDigest(data []byte) []byte {
	if len(data) < keysnap.HeaderSize {
		return data
	}
	out := append([]byte(nil), data...)
	sum := sha256.Sum256(out[keysnap.HeaderSize:])
	copy(out[64:96], sum[:])
	return out
}
