package policy

import (
	"encoding/json"
	"testing"

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
