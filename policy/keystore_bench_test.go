package policy

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/apiguard/apiguard/internal/testing/benchconfig"
	"github.com/apiguard/apiguard/policy/keymat"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// BenchmarkDecideSnapshot compares Decide with 100k keys inline and the same
// keys from a snapshot (same routes, same request).
func BenchmarkDecideSnapshot(b *testing.B) {
	config, key, path := benchConfig(b, 100000, 1000)
	inline, err := Compile(config)
	if err != nil {
		b.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(config, &cfg); err != nil {
		b.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{"consumers": cfg["consumers"]})
	delete(cfg, "consumers")
	cfg["key_store"] = map[string]any{"cluster": "k", "path": "/k", "allow_unsigned": true}
	storeConfig, _ := json.Marshal(cfg)
	store, err := Compile(storeConfig)
	if err != nil {
		b.Fatal(err)
	}
	cons, keys, err := ParseConsumers(doc)
	if err != nil {
		b.Fatal(err)
	}
	snap, err := keysnap.Encode(&keysnap.Snapshot{Generation: 1, Consumers: cons, Keys: keys}, nil)
	if err != nil {
		b.Fatal(err)
	}
	loaded, err := store.LoadSnapshot(snap)
	if err != nil {
		b.Fatal(err)
	}
	r := Request{Method: "GET", Path: path, Headers: HeaderList{{"host", "api.example.com"}, {"x-api-key", key}},
		ClientIP: "203.0.113.7", Now: now}
	for name, p := range map[string]*Policy{"inline": inline, "snapshot": loaded} {
		b.Run("keys="+name, func(b *testing.B) {
			if d := p.Decide(r); !d.Allow {
				b.Fatalf("not allowed: %+v", d)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(r)
			}
		})
	}
}

// BenchmarkLoadSnapshot loads a snapshot of a million keys (ten per
// consumer, as the filter's key store benchmark builds it) natively: the
// time of the load's stages, for profiling the indexing (-cpuprofile).
func BenchmarkLoadSnapshot(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(3, n))
	s := &keysnap.Snapshot{Generation: 1}
	s.Consumers = benchconfig.SnapshotConsumers(n)
	s.Keys = make([]keysnap.Key, n)
	for i := range s.Keys {
		k := &s.Keys[i]
		for j := 0; j < 32; j += 8 {
			binary.LittleEndian.PutUint64(k.Digest[j:], rng.Uint64())
		}
		k.Consumer, k.ID, k.NotBefore, k.NotAfter = i/10, "key-"+strconv.Itoa(i), 1, 2
	}
	snap, err := keysnap.Encode(s, nil)
	if err != nil {
		b.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(benchconfig.Config(10, 1000, func(int) string { return keymat.Hash("x") }), &cfg); err != nil {
		b.Fatal(err)
	}
	delete(cfg, "consumers")
	cfg["key_store"] = map[string]any{"cluster": "k", "path": "/k", "allow_unsigned": true}
	cfg["rate_limits"].(map[string]any)["gold"] = map[string]any{"requests": 10, "per": "1s"}
	config, _ := json.Marshal(cfg)
	p, err := Compile(config)
	if err != nil {
		b.Fatal(err)
	}
	var st LoadStats
	for b.Loop() {
		l, err := p.NewLoader(snap)
		if err != nil {
			b.Fatal(err)
		}
		for !l.Step(time.Hour) {
		}
		if l.Err() != nil {
			b.Fatal(l.Err())
		}
		st = l.Stats()
	}
	b.ReportMetric(float64(st.Verify.Microseconds())/1e3, "verify-ms")
	b.ReportMetric(float64(st.Index.Microseconds())/1e3, "index-ms")
}
