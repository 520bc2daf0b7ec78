package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"

	"github.com/apiguard/apiguard/policy/keymat"
)

// A Load is a production-sized plugin configuration and the requests to
// send through it, each with the answer it must get. TestGCHeavyLoad sends
// them through a real Envoy; the configuration is large enough, and the
// traffic long enough, that the Go runtime in each worker's VM collects
// garbage many times while serving, with the heap holding tens of thousands
// of keys: the conditions under which a host call made inside a collection
// (poll_oneoff in proxy_on_memory_allocate) trapped the VM in Envoy
// 1.33–1.38 (issue 11).
type Load struct {
	// Config is the plugin configuration (JSON).
	Config []byte
	// Consumers are the configured consumers, in order.
	Consumers []LoadConsumer
	// UnknownKey is well formed (prefix and checksum) but in no consumer.
	UnknownKey string
	routes     int
}

// A LoadConsumer is one consumer of a Load with its keys.
type LoadConsumer struct {
	ID      string
	Key     string // valid
	Revoked string // revoked
	Write   bool   // granted orders:write as well as orders:read
}

// A LoadRequest is one request of a Load and the outcome it must have.
type LoadRequest struct {
	Method, Path string
	Key          string // the x-api-key header; "" sends none
	Status       int    // the status the client must get
	Consumer     string // for a 200: the x-apiguard-consumer the upstream must see
}

// NewLoad generates a Load of n consumers, each with a valid and a revoked
// key, half of them also granted orders:write, and routes per resource
// (GET needs orders:read, POST orders:write). The same seed gives the same
// keys.
func NewLoad(n, routes int, seed int64) (*Load, error) {
	rng := rand.New(rand.NewSource(seed))
	key := func() (string, error) { return keymat.Generate("agk_", rng) }
	l := &Load{Consumers: make([]LoadConsumer, n), routes: routes}
	consumers := make([]any, n)
	for i := range l.Consumers {
		c := &l.Consumers[i]
		c.ID = fmt.Sprintf("consumer-%05d", i)
		c.Write = i%2 == 1
		var err error
		if c.Key, err = key(); err != nil {
			return nil, err
		}
		if c.Revoked, err = key(); err != nil {
			return nil, err
		}
		scopes := []any{"orders:read"}
		if c.Write {
			scopes = append(scopes, "orders:write")
		}
		consumers[i] = map[string]any{
			"id": c.ID, "scopes": scopes,
			"keys": []any{
				map[string]any{"id": c.ID + "-k1", "sha256": keymat.Hash(c.Key),
					"not_before": "2026-01-01T00:00:00Z", "not_after": "2036-01-01T00:00:00Z"},
				map[string]any{"id": c.ID + "-k0", "sha256": keymat.Hash(c.Revoked), "revoked": true},
			},
		}
	}
	var err error
	if l.UnknownKey, err = key(); err != nil {
		return nil, err
	}
	rs := make([]any, 0, 2*routes+1)
	for r := range routes {
		rs = append(rs,
			map[string]any{"name": fmt.Sprintf("get-res%d", r), "methods": []any{"GET"}, "path": fmt.Sprintf("/v1/res%d/{id}", r), "scopes": []any{"orders:read"}},
			map[string]any{"name": fmt.Sprintf("post-res%d", r), "methods": []any{"POST"}, "path": fmt.Sprintf("/v1/res%d/{id}", r), "scopes": []any{"orders:write"}})
	}
	rs = append(rs, map[string]any{"name": "health", "path": "/healthz", "public": true})
	cfg := map[string]any{
		"mode":             "enforce",
		"key_sources":      []any{map[string]any{"header": "x-api-key"}},
		"key_format":       map[string]any{"prefix": "agk_", "checksum": true},
		"hide_credentials": true,
		"consumers":        consumers,
		"routes":           rs,
		"unmatched":        "deny",
		// Large enough that no request of a Load is rate limited: the
		// test is about the VM surviving, and each consumer's bucket is
		// still created and taken from in shared data.
		"rate_limits":        map[string]any{"default": map[string]any{"requests": 100000, "per": "1s", "burst": 100000}},
		"default_rate_limit": "default",
		"forward":            map[string]any{"consumer_header": "x-apiguard-consumer"},
	}
	if l.Config, err = json.Marshal(cfg); err != nil {
		return nil, err
	}
	return l, nil
}

// Request returns the i-th request of the load. Of every ten: six reads
// with a valid key (200), a write (200 or 403 by the consumer's scopes), a
// revoked key (401), an unknown key (401) and no key (401). Consumers are
// visited in a stride that covers all of them.
func (l *Load) Request(i int) LoadRequest {
	n := len(l.Consumers)
	c := l.Consumers[(i*7919)%n]
	path := fmt.Sprintf("/v1/res%d/%d", i%l.routes, i)
	switch i % 10 {
	case 6:
		if c.Write {
			return LoadRequest{Method: http.MethodPost, Path: path, Key: c.Key, Status: http.StatusOK, Consumer: c.ID}
		}
		return LoadRequest{Method: http.MethodPost, Path: path, Key: c.Key, Status: http.StatusForbidden}
	case 7:
		return LoadRequest{Method: http.MethodGet, Path: path, Key: c.Revoked, Status: http.StatusUnauthorized}
	case 8:
		return LoadRequest{Method: http.MethodGet, Path: path, Key: l.UnknownKey, Status: http.StatusUnauthorized}
	case 9:
		return LoadRequest{Method: http.MethodGet, Path: path, Status: http.StatusUnauthorized}
	default:
		return LoadRequest{Method: http.MethodGet, Path: path, Key: c.Key, Status: http.StatusOK, Consumer: c.ID}
	}
}
