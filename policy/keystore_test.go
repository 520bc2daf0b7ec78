package policy

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy/keysnap"

	"github.com/apiguard/apiguard/policy/keymat"
)

// storeExample returns the example configuration compiled inline, the same
// configuration with a key_store in place of its consumers, a snapshot of
// its consumers signed with a fresh key, and the signing key.
func storeExample(t testing.TB) (inline, store *Policy, snap []byte, priv ed25519.PrivateKey) {
	t.Helper()
	return storeExampleWith(t, nil)
}

// storeExampleWith is storeExample with edit applied to the key-store
// configuration before it is compiled.
func storeExampleWith(t testing.TB, edit func(cfg map[string]any)) (inline, store *Policy, snap []byte, priv ed25519.PrivateKey) {
	t.Helper()
	data, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	inline, err = Compile(data)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	consumersDoc, _ := json.Marshal(map[string]any{"consumers": cfg["consumers"]})
	delete(cfg, "consumers")
	pub, priv, _ := ed25519.GenerateKey(rand.New(rand.NewSource(1)))
	cfg["key_store"] = map[string]any{"cluster": "keys", "path": "/keys.snap", "public_key": base64.StdEncoding.EncodeToString(pub)}
	if edit != nil {
		edit(cfg)
	}
	b, _ := json.Marshal(cfg)
	store, err = Compile(b)
	if err != nil {
		t.Fatal(err)
	}
	cons, keys, err := ParseConsumers(consumersDoc)
	if err != nil {
		t.Fatal(err)
	}
	snap, err = keysnap.Encode(&keysnap.Snapshot{Generation: 7, Created: now, Consumers: cons, Keys: keys}, priv)
	if err != nil {
		t.Fatal(err)
	}
	return inline, store, snap, priv
}

// A snapshot of the inline consumers decides every request exactly as the
// inline configuration does.
func TestSnapshotDecidesAsInline(t *testing.T) {
	inline, store, snap, _ := storeExample(t)
	if store.KeysLoaded() || store.KeyStore() == nil || store.KeyStore().Refresh != 10*time.Second || store.KeyStore().Timeout != 2*time.Second {
		t.Fatalf("key store policy before a snapshot: loaded %v, %+v", store.KeysLoaded(), store.KeyStore())
	}
	loaded, err := store.LoadSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.KeysLoaded() {
		t.Fatal("KeysLoaded false after LoadSnapshot")
	}
	_, keys := loadExample(t)
	keys["unknown"] = "agk_" + strings.Repeat("A", 32) + "000000"
	allowed := 0
	for id, key := range keys {
		for _, r := range []Request{get("/v1/orders?limit=5", "x-api-key", key), get("/v1/files/a", "x-api-key", key),
			req("POST", "/v1/orders", "x-api-key", key), get("/healthz"), get("/v1/orders")} {
			want, got := inline.Decide(r), loaded.Decide(r)
			// Limits are the same policies compiled twice; the partition
			// keys and anonymous slots are seeded by the configuration text.
			if (want.RateLimit.Limit == nil) != (got.RateLimit.Limit == nil) || want.RateLimit.Limit != nil && *want.RateLimit.Limit != *got.RateLimit.Limit {
				t.Errorf("%s %s key %s: limit %v, want %v", r.Method, r.Path, id, got.RateLimit.Limit, want.RateLimit.Limit)
			}
			want.RateLimit.Limit, got.RateLimit.Limit, want.RateLimit.PartitionKey, got.RateLimit.PartitionKey = nil, nil, "", ""
			if got.Identity.Consumer == "" {
				want.RateLimit.BucketKey, got.RateLimit.BucketKey = "", ""
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("%s %s key %s: snapshot decided %+v, inline %+v", r.Method, r.Path, id, got, want)
			}
			if got.Allow && got.Identity.Consumer != "" {
				allowed++
			}
			// Before the snapshot, nothing is allowed that needs a key.
			if d := store.Decide(r); d.Allow && d.Identity.Consumer != "" {
				t.Errorf("allowed without a snapshot: %+v", d)
			}
		}
	}
	if allowed == 0 {
		t.Fatal("no request was allowed with a key: the comparison proves nothing")
	}
}

func TestKeyStoreUnavailable(t *testing.T) {
	_, store, _, _ := storeExample(t)
	d := KeyStoreUnavailable(store.Decide(get("/v1/orders", "x-api-key", "agk_x")), 10)
	if d.Allow || d.Status != 503 || d.Reason != ReasonKeyStoreUnavailable || !reflect.DeepEqual(d.Problem.ResponseHeaders, [][2]string{{"retry-after", "10"}}) {
		t.Fatalf("got %+v", d)
	}
	if d := KeyStoreUnavailable(store.Decide(get("/healthz")), 10); !d.Allow {
		t.Fatalf("public route: %+v", d)
	}
	if d := KeyStoreUnavailable(store.Decide(get("/v1/..%2F..%2Fx")), 10); d.Reason != ReasonBadPath {
		t.Fatalf("bad path became %+v", d)
	}
}

func TestSnapshotRejected(t *testing.T) {
	_, store, snap, _ := storeExample(t)
	_, otherPriv, _ := ed25519.GenerateKey(rand.New(rand.NewSource(2)))
	cons, keys, _ := ParseConsumers([]byte(`{"consumers":[{"id":"a","rate_limit":"platinum","keys":[{"id":"k","sha256":"` + keymat.Hash("x") + `"}]}]}`))
	_, _, _, priv := storeExample(t)
	unknownPolicy, _ := keysnap.Encode(&keysnap.Snapshot{Generation: 1, Consumers: cons, Keys: keys}, priv)
	unsigned, _ := keysnap.Encode(&keysnap.Snapshot{Generation: 1}, nil)
	otherSigned, _ := keysnap.Encode(&keysnap.Snapshot{Generation: 1}, otherPriv)
	flipped := append([]byte(nil), snap...)
	flipped[len(flipped)-3] ^= 1
	resigned := append([]byte(nil), snap...)
	resigned[16]++ // generation, covered by the signature
	for name, tc := range map[string]struct {
		data  []byte
		cause LoadCause
	}{
		"truncated":      {snap[:len(snap)-10], CauseTruncated},
		"header only":    {snap[:100], CauseTruncated},
		"empty":          {nil, CauseTruncated},
		"not a snapshot": {[]byte(`{"consumers": []}`), CauseCorrupt},
		"trailing":       {append(append([]byte(nil), snap...), 0), CauseCorrupt},
		"body flipped":   {flipped, CauseCorrupt},
		"header changed": {resigned, CauseBadSignature},
		"other key":      {otherSigned, CauseBadSignature},
		"unsigned":       {unsigned, CauseUnsigned},
		"unknown policy": {unknownPolicy, CauseConfigMismatch},
	} {
		p, err := store.LoadSnapshot(tc.data)
		var le *LoadError
		if p != nil || !errors.As(err, &le) || le.Cause != tc.cause {
			t.Errorf("%s: got %v, %v; want cause %s", name, p != nil, err, tc.cause)
		}
	}
}

func TestKeyStoreConfig(t *testing.T) {
	pub := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct{ config, want string }{
		{`{"consumers": [], "key_store": {"cluster": "k", "path": "/k", "public_key": "` + pub + `"}}`,
			`key_store: must not be used with consumers: keys come either from the configuration (consumers) or from a key store (key_store), not both`},
		{`{"key_store": {"cluster": "k", "path": "/k"}}`, `key_store.public_key: is required`},
		{`{"key_store": {"path": "/k", "allow_unsigned": true}}`, `key_store.cluster: is required`},
		{`{"key_store": {"cluster": "k", "path": "k", "allow_unsigned": true}}`, `key_store.path: must be a request path`},
		{`{"key_store": {"cluster": "k", "path": "/k", "allow_unsigned": true, "refresh": "500ms"}}`, `key_store.refresh: must be a duration between 1s and 1h0m0s`},
		{`{"key_store": {"cluster": "k", "path": "/k", "allow_unsigned": true, "refresh": "2s", "timeout": "3s"}}`, `key_store.timeout: must not be longer than refresh`},
		{`{"key_store": {"cluster": "k", "path": "/k", "public_key": "AAAA"}}`, `key_store.public_key: must be an Ed25519 public key`},
		{`{"key_store": {"cluster": "k", "path": "/k", "public_key": "` + pub + `", "allow_unsigned": true}}`, `key_store.allow_unsigned: must not be true with public_key`},
		{`{"key_store": {"cluster": "k", "path": "/k", "allow_unsigned": true, "colour": 1}}`, `key_store.colour: unknown field`},
	} {
		_, err := Compile([]byte(tc.config))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.config, err, tc.want)
		}
	}
	p, err := Compile([]byte(`{"key_store": {"cluster": "k", "path": "/k", "allow_unsigned": true, "refresh": "1s"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ks := p.KeyStore(); ks.Timeout != time.Second || ks.Authority != "k" || len(p.Warnings()) != 1 || !strings.Contains(p.Warnings()[0].Error(), "unsigned") {
		t.Fatalf("%+v, warnings %v", ks, p.Warnings())
	}
}

// ParseConsumers reports problems with the paths Compile uses.
func TestParseConsumersPaths(t *testing.T) {
	doc := `{"consumers": [{"id": "a", "keys": [{"id": "k1", "sha256": "` + keymat.Hash("x") + `"}]},
		{"id": "a", "keys": [{"id": "k1", "sha256": "ABC"}, {"id": "k3", "sha256": "` + keymat.Hash("x") + `"}]}], "routes": []}`
	_, _, err := ParseConsumers([]byte(doc))
	for _, want := range []string{
		`consumers[1].keys[0].sha256: must be 64 lowercase hex digits`,
		`routes: unknown field`,
		`consumers[1].id: duplicate consumer id "a" (also consumers[0])`,
		`consumers[1].keys[0].id: duplicate key id "k1" (also consumers[0].keys[0])`,
		`consumers[1].keys[1].sha256: duplicate key hash (also consumers[0].keys[0])`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

// A decision with a snapshot key allocates no more than one with an inline
// key (none).
func TestSnapshotDecideAllocs(t *testing.T) {
	_, store, snap, _ := storeExample(t)
	loaded, err := store.LoadSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	_, keys := loadExample(t)
	r := get("/v1/orders/7", "x-api-key", keys["reports-2026"])
	if d := loaded.Decide(r); !d.Allow {
		t.Fatalf("%+v", d)
	}
	if n := testing.AllocsPerRun(100, func() { loaded.Decide(r) }); n != 0 {
		t.Fatalf("snapshot decision allocates %v times", n)
	}
}

// Every key of a larger snapshot is found with its own id, consumer and
// validity, whatever its position in the digest order.
// TestSnapshotManyKeys loads a snapshot of several keysnap.Buffer segments
// (its consumer section alone spans two), contiguous and filled in odd
// pieces as ranges arrive, and finds every key.
func TestSnapshotManyKeys(t *testing.T) {
	store := mustCompile(t, `{"key_store": {"cluster": "k", "path": "/k", "allow_unsigned": true},
		"routes": [{"name": "r", "path": "/r"}]}`)
	const nCons = 12000
	s := &keysnap.Snapshot{Generation: 1}
	for c := 0; c < nCons; c++ {
		s.Consumers = append(s.Consumers, keysnap.Consumer{ID: "c" + strings.Repeat("x", 20+c%5) + strconv.Itoa(c)})
	}
	raw := map[string]string{}
	for i := 0; i < 20000; i++ {
		key := "key-" + strconv.Itoa(i)
		id := "id" + strings.Repeat("-", i%7) + strconv.Itoa(i)
		raw[id] = key
		k := keysnap.Key{ID: id, Consumer: i % nCons, NotBefore: keysnap.NoLowerBound, NotAfter: keysnap.NoUpperBound, Revoked: i%11 == 0}
		if i%13 == 0 {
			k.NotAfter = now.Add(-time.Hour).UnixNano()
		}
		copy(k.Digest[:], sha256Sum(key))
		s.Keys = append(s.Keys, k)
	}
	data, err := keysnap.Encode(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := keysnap.ParseHeader(data); len(data) < 3*keysnap.SegmentSize || h.ConsumerBytes <= keysnap.SegmentSize {
		t.Fatalf("the snapshot has %d bytes: fewer than 3 segments", len(data))
	}
	contiguous, err := store.LoadSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	buf := keysnap.NewBuffer(len(data))
	for off := 0; off < len(data); off += 7777 {
		buf.Append(data[off:min(len(data), off+7777)])
	}
	if !buf.Seal() {
		t.Fatal("buffer not full")
	}
	l, err := store.NewBufferLoader(buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	for !l.Step(time.Hour) {
	}
	if l.Err() != nil {
		t.Fatal(l.Err())
	}
	for _, p := range []*Policy{contiguous, l.Policy()} {
		for i, k := range s.Keys {
			d := p.Decide(get("/r", "x-api-key", raw[k.ID]))
			want := ReasonAllowed
			switch {
			case k.Revoked:
				want = ReasonRevoked
			case k.NotAfter != keysnap.NoUpperBound:
				want = ReasonExpired
			}
			if d.Reason != want || want == ReasonAllowed && (d.Identity.KeyID != k.ID || d.Identity.Consumer != s.Consumers[k.Consumer].ID) {
				t.Fatalf("key %d (%s): %s %q %q, want %s %q %q", i, k.ID, d.Reason, d.Identity.KeyID, d.Identity.Consumer, want, k.ID, s.Consumers[k.Consumer].ID)
			}
		}
		if d := p.Decide(get("/r", "x-api-key", "key-none")); d.Reason != ReasonUnknown {
			t.Fatalf("unknown key: %s", d.Reason)
		}
	}
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// TestSnapshotConsumersUseDefaultQuota: a snapshot names no quotas, so its
// consumers count under default_quota (and route quotas), and a consumer
// without one never indexes past the configured quotas.
func TestSnapshotConsumersUseDefaultQuota(t *testing.T) {
	_, store, snap, _ := storeExampleWith(t, func(cfg map[string]any) {
		// Two quotas, the default not the first, so that a consumer
		// quota index left at its zero value would pick the wrong one.
		cfg["quotas"] = map[string]any{"a-hourly": map[string]any{"requests": 10, "per": "hour"},
			"plan-daily": map[string]any{"requests": 1000, "per": "day"}}
		cfg["default_quota"] = "plan-daily"
	})
	loaded, err := store.LoadSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	_, exampleKeys := loadExample(t)
	allowed := 0
	for _, key := range exampleKeys {
		d := loaded.Decide(get("/v1/orders?limit=5", "x-api-key", key))
		if !d.Allow {
			continue
		}
		allowed++
		if d.RateLimit.Quota == nil || d.RateLimit.Quota.Name != "plan-daily" {
			t.Errorf("consumer %s: quota %v, want plan-daily", d.Identity.Consumer, d.RateLimit.Quota)
		}
	}
	if allowed == 0 {
		t.Fatal("no example key was allowed: the test checks nothing")
	}
}

// TestNextSnapshotSharesRepeatedConsumers: a snapshot whose consumer
// section repeats the one in use byte for byte shares its compiled
// consumers (compared in steps with the hashing); one consumer more or a
// changed one, and they are built anew.
func TestNextSnapshotSharesRepeatedConsumers(t *testing.T) {
	store := mustCompile(t, `{"key_store": {"cluster": "k", "path": "/k", "allow_unsigned": true},
		"routes": [{"name": "r", "path": "/r"}]}`)
	build := func(gen uint64, cons []string, nKeys int) []byte {
		s := &keysnap.Snapshot{Generation: gen}
		for _, c := range cons {
			s.Consumers = append(s.Consumers, keysnap.Consumer{ID: c})
		}
		for i := 0; i < nKeys; i++ {
			k := keysnap.Key{ID: "k" + strconv.Itoa(i), Consumer: i % len(cons), NotBefore: keysnap.NoLowerBound, NotAfter: keysnap.NoUpperBound}
			copy(k.Digest[:], sha256Sum("key-"+strconv.Itoa(i)))
			s.Keys = append(s.Keys, k)
		}
		data, err := keysnap.Encode(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	load := func(data []byte, prev *Policy) *Policy {
		l, err := store.NewBufferLoader(keysnap.BufferOf(data), prev)
		if err != nil {
			t.Fatal(err)
		}
		for !l.Step(time.Hour) {
		}
		if l.Err() != nil {
			t.Fatal(l.Err())
		}
		return l.Policy()
	}
	many := make([]string, 30000) // a consumer section of several hash units
	for i := range many {
		many[i] = "consumer-" + strconv.Itoa(i)
	}
	first := load(build(1, many, 100), nil)
	if next := load(build(2, many, 200), first); !next.SharesConsumers(first) {
		t.Fatal("the same consumers were built again")
	}
	changed := append([]string(nil), many...)
	changed[len(changed)-1] = "consumer-x"
	if next := load(build(3, changed, 200), first); next.SharesConsumers(first) {
		t.Fatal("a changed last consumer shared the old consumers")
	}
}
