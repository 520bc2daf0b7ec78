package main

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
)

// BenchmarkCursorSeal measures what sealing costs per request through the
// compiled filter in cpphost (envoy-1.33): a 2xx JSON page of about 2 KiB
// whose next_cursor and Link header are sealed, and the next request whose
// sealed cursor is opened, each against the same route with cursors plain
// (the same configuration without cursor_seal) in the same run. Sealed
// results carry x-plain, the ratio to the plain time of the same operation.
func BenchmarkCursorSeal(b *testing.B) {
	k := newTestKeys(b)
	sealedCfg := sealedConfigTB(b, k, true)
	plainCfg := sealedConfigTB(b, k, false)
	items := make([]map[string]any, 20)
	for i := range items {
		items[i] = map[string]any{"id": i, "customer": "customer-" + strconv.Itoa(i), "total": 1234.5, "currency": "EUR", "status": "paid", "lines": 3}
	}
	body, _ := json.Marshal(map[string]any{"items": items, "next_cursor": "eyJpZCI6MTAyMzR9", "paging": map[string]any{"next": "eyJpZCI6MTAyMzR9"}})
	response := [][2]string{{":status", "200"}, {"content-type", "application/json"}, {"content-length", strconv.Itoa(len(body))},
		{"link", `<https://api.example.com/v1/orders?limit=20&cursor=eyJpZCI6MTAyMzR9>; rel="next"`}}
	wasm := vmtest.Plain(b)
	vms := map[bool]driver.Env{true: hostVM(b, wasm, sealedCfg), false: hostVM(b, wasm, plainCfg)}
	page := func(vm driver.Env) driver.Result {
		r, err := vm.Do(driver.Request{Headers: [][2]string{{":method", "GET"}, {":path", "/v1/orders"}, {":authority", "api.example.com"}, {"x-api-key", k.billing}},
			Response: response, Body: [][]byte{body}})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	// The cursor each configuration's client sends back.
	var sealed struct {
		NextCursor string `json:"next_cursor"`
	}
	r := page(vms[true])
	if err := json.Unmarshal(r.Body, &sealed); err != nil || sealed.NextCursor == "" || strings.Contains(string(r.Body), "eyJpZCI6MTAyMzR9") {
		b.Fatalf("sealed page: %v %s", err, r.Body)
	}
	cursor := map[bool]string{true: sealed.NextCursor, false: "eyJpZCI6MTAyMzR9"}
	next := func(seal bool) [][2]string {
		return [][2]string{{":method", "GET"}, {":path", "/v1/orders?cursor=" + url.QueryEscape(cursor[seal])}, {":authority", "api.example.com"}, {"x-api-key", k.billing}}
	}
	for _, seal := range []bool{true, false} {
		if r, err := vms[seal].Do(driver.Request{Headers: next(seal)}); err != nil || r.Local != nil || upstreamPath(r) != "/v1/orders?cursor=eyJpZCI6MTAyMzR9&limit=20" {
			b.Fatalf("next page (sealed %v): %v %+v", seal, err, r)
		}
	}
	for _, op := range []string{"response", "request"} {
		var plain float64
		for _, seal := range []bool{false, true} {
			name := map[bool]string{true: "sealed", false: "plain"}[seal]
			vm := vms[seal]
			b.Run("op="+op+"/cursors="+name, func(b *testing.B) {
				for b.Loop() {
					if op == "response" {
						page(vm)
					} else if _, err := vm.Do(driver.Request{Headers: next(seal)}); err != nil {
						b.Fatal(err)
					}
				}
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(ns/1000, "us/req")
				if !seal {
					plain = ns
				} else if plain > 0 {
					b.ReportMetric(ns/plain, "x-plain")
				}
			})
		}
	}
}

// sealedConfigTB is sealedConfig for benchmarks; without seal, the same
// configuration with cursors plain.
func sealedConfigTB(tb testing.TB, k testKeys, seal bool) []byte {
	return testConfig(tb, k, func(c map[string]any) {
		prof := c["pagination"].(map[string]any)["standard"].(map[string]any)
		prof["max_cursor_length"] = 512
		if seal {
			prof["cursor_seal"] = map[string]any{"response_fields": []any{"next_cursor", "paging.next"}, "link_header": true, "key": sealKeyHex}
		}
		c["rate_limits"].(map[string]any)["gold"] = map[string]any{"requests": 1_000_000_000, "per": "1s", "burst": 1_000_000_000}
	})
}
