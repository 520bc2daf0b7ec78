package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/policy"
)

const (
	sealKeyHex     = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	sealKeyHexNext = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
)

// sealedConfig is the test configuration with cursors sealed on the
// "standard" profile (list-orders, and list-invoices added here); seal
// edits the cursor_seal section. The reader consumer may read orders too.
func sealedConfig(t *testing.T, k testKeys, seal func(map[string]any)) []byte {
	t.Helper()
	return testConfig(t, k, func(c map[string]any) {
		s := map[string]any{"response_fields": []any{"next_cursor", "paging.next"}, "link_header": true,
			"key": sealKeyHex, "lifetime": "1h"}
		if seal != nil {
			seal(s)
		}
		prof := c["pagination"].(map[string]any)["standard"].(map[string]any)
		prof["cursor_seal"], prof["max_cursor_length"] = s, 512
		c["routes"] = append(c["routes"].([]any),
			map[string]any{"name": "list-invoices", "methods": []any{"GET"}, "path": "/v1/invoices", "pagination": "standard"})
		c["consumers"].([]any)[1].(map[string]any)["scopes"] = []any{"files:read", "orders:read"}
	})
}

// jsonResponse is a 200 JSON response with a Link header and the body's length.
func jsonResponse(body string, extra ...[2]string) [][2]string {
	h := [][2]string{{":status", "200"}, {"content-type", "application/json"}, {"content-length", itoa(len(body))},
		{"link", `<https://api.example.com/v1/orders?limit=20&cursor=10234>; rel="next"`}}
	return append(h, extra...)
}

func itoa(n int) string { return strconv.Itoa(n) }

const pageBody = `{"items": [{"id": 1}], "next_cursor": "10234", "paging": {"next": "10234", "prev": null}}`

// sealedPage fetches the first page of list-orders as key and returns the
// cursor token of next_cursor.
func sealedPage(t *testing.T, e *env, key string) string {
	t.Helper()
	o := e.doWithBody("/v1/orders", [][2]string{{"x-api-key", key}}, jsonResponse(pageBody), []byte(pageBody))
	if o.local != nil {
		t.Fatalf("first page denied: %d %s", o.local.StatusCode, o.local.Data)
	}
	var doc struct {
		NextCursor string `json:"next_cursor"`
	}
	if err := json.Unmarshal(o.body, &doc); err != nil || doc.NextCursor == "" || doc.NextCursor == "10234" {
		t.Fatalf("sealed body %s: %v", o.body, err)
	}
	return doc.NextCursor
}

// nextPage requests list-orders (or path) with cursor.
func nextPage(e *env, path, key, cursor string) outcome {
	return e.do(path+"?cursor="+url.QueryEscape(cursor), [2]string{"x-api-key", key})
}

// wantBadCursor checks a 400 bad_pagination naming the cursor parameter.
func wantBadCursor(t *testing.T, o outcome, what string) {
	t.Helper()
	if o.local == nil || o.local.StatusCode != 400 || !strings.Contains(string(o.local.Data), `"type":"https://apiguard.dev/problems/bad_pagination"`) ||
		!strings.Contains(string(o.local.Data), `parameter \"cursor\" is not a cursor this API issued`) {
		if o.local == nil {
			t.Fatalf("%s: forwarded as %q", what, pathOf(o.upstream))
		}
		t.Fatalf("%s: %d %s", what, o.local.StatusCode, o.local.Data)
	}
}

func pathOf(hs [][2]string) string { p, _ := header(hs, ":path"); return p }

func TestCursorSealRoundTrip(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, sealedConfig(t, k, nil))
		o := e.doWithBody("/v1/orders", [][2]string{{"x-api-key", k.billing}}, jsonResponse(pageBody), []byte(pageBody))
		if o.local != nil {
			t.Fatalf("denied: %s", o.local.Data)
		}
		if strings.Contains(string(o.body), "10234") {
			t.Fatalf("the raw cursor reached the client: %s", o.body)
		}
		var doc struct {
			Items      []map[string]int
			NextCursor string `json:"next_cursor"`
			Paging     struct {
				Next string
				Prev *string
			}
		}
		if err := json.Unmarshal(o.body, &doc); err != nil {
			t.Fatalf("sealed body is not JSON: %v: %s", err, o.body)
		}
		if len(doc.Items) != 1 || doc.Items[0]["id"] != 1 || doc.Paging.Prev != nil || doc.Paging.Next == "" || doc.NextCursor == doc.Paging.Next {
			t.Errorf("sealed body %s", o.body)
		}
		if _, ok := header(o.response, "content-length"); ok {
			t.Errorf("Content-Length kept although the body changed length: %q", o.response)
		}
		link, _ := header(o.response, "link")
		if strings.Contains(link, "10234") || !strings.HasPrefix(link, "<https://api.example.com/v1/orders?limit=20&cursor=") || !strings.HasSuffix(link, `>; rel="next"`) {
			t.Errorf("Link header %q", link)
		}
		if got := e.counter(metricname.CursorSealed); got != 1 {
			t.Errorf("%s = %d, want 1", metricname.CursorSealed, got)
		}
		// Each sealed cursor opens: the back end gets its own cursor back.
		linkTok := strings.TrimSuffix(strings.TrimPrefix(link, "<https://api.example.com/v1/orders?limit=20&cursor="), `>; rel="next"`)
		for _, tok := range []string{doc.NextCursor, doc.Paging.Next, linkTok} {
			n := nextPage(e, "/v1/orders", k.billing, tok)
			if n.local != nil {
				t.Fatalf("next page denied: %s", n.local.Data)
			}
			if got := pathOf(n.upstream); got != "/v1/orders?cursor=10234&limit=20" {
				t.Errorf("upstream path %q, want the back end's cursor", got)
			}
		}
		// A raw cursor is refused.
		wantBadCursor(t, nextPage(e, "/v1/orders", k.billing, "10234"), "raw cursor")
	})
}

func TestCursorSealRefusesForgeries(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, sealedConfig(t, k, nil))
		tok := sealedPage(t, e, k.billing)
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatal(err)
		}
		// One byte in each region: version, nonce, expiry and cursor
		// (ciphertext), tag.
		for _, i := range []int{0, 1, 12, 13, 21, len(raw) - 1} {
			bad := append([]byte(nil), raw...)
			bad[i] ^= 0x20
			wantBadCursor(t, nextPage(e, "/v1/orders", k.billing, base64.RawURLEncoding.EncodeToString(bad)), "byte "+itoa(i)+" changed")
		}
		wantBadCursor(t, nextPage(e, "/v1/orders", k.reader, tok), "another consumer's cursor")
		wantBadCursor(t, nextPage(e, "/v1/invoices", k.billing, tok), "another route's cursor")
		e.setTime(testNow.Add(time.Hour))
		wantBadCursor(t, nextPage(e, "/v1/orders", k.billing, tok), "an expired cursor")
		e.setTime(testNow.Add(59 * time.Minute))
		if o := nextPage(e, "/v1/orders", k.billing, tok); o.local != nil {
			t.Errorf("a cursor within its lifetime: %s", o.local.Data)
		}
		if got := e.counter(metricname.Decision(policy.ReasonBadPagination)); got != 9 {
			t.Errorf("bad_pagination decisions = %d, want 9", got)
		}
	})
}

func TestCursorSealKeyRotation(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		old := start(t, vm, sealedConfig(t, k, nil))
		tok := sealedPage(t, old, k.billing)
		old.close()
		rotating := start(t, vm, sealedConfig(t, k, func(s map[string]any) { s["key"], s["previous_key"] = sealKeyHexNext, sealKeyHex }))
		if o := nextPage(rotating, "/v1/orders", k.billing, tok); o.local != nil || pathOf(o.upstream) != "/v1/orders?cursor=10234&limit=20" {
			t.Errorf("the previous key's cursor during the rotation: %+v", o)
		}
		fresh := sealedPage(t, rotating, k.billing)
		rotating.close()
		done := start(t, vm, sealedConfig(t, k, func(s map[string]any) { s["key"] = sealKeyHexNext }))
		wantBadCursor(t, nextPage(done, "/v1/orders", k.billing, tok), "the retired key's cursor")
		if o := nextPage(done, "/v1/orders", k.billing, fresh); o.local != nil {
			t.Errorf("the new key's cursor after the rotation: %s", o.local.Data)
		}
	})
}

// TestCursorSealFailures: a response that cannot be sealed never hands the
// client its cursors: 502 problem when the headers tell, the body replaced
// by the problem when only the body does; counted and logged.
func TestCursorSealFailures(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, sealedConfig(t, k, func(s map[string]any) { s["max_body"] = 200 }))
		problem := `{"type":"https://apiguard.dev/problems/cursor_seal_failed","title":"Cursor seal failed","status":502,"detail":"the API's response could not be passed on safely"}`
		big := `{"next_cursor": "10234", "pad": "` + strings.Repeat("x", 300) + `"}`
		for _, c := range []struct {
			name       string
			response   [][2]string
			chunks     []string
			wantStatus string
		}{
			{"not JSON", [][2]string{{":status", "200"}, {"content-type", "text/html"}, {"link", `<https://x/?cursor=10234>; rel="next"`}},
				[]string{"<a href='?cursor=10234'>next</a>"}, "502"},
			{"Content-Length over max_body", jsonResponse(big), []string{big[:100], big[100:]}, "502"},
			{"over max_body, chunked", [][2]string{{":status", "200"}, {"content-type", "application/json"}}, []string{big[:150], big[150:]}, "200"},
			{"not a string", jsonResponse(`{"next_cursor": 10234}`), []string{`{"next_cursor": 10234}`}, "200"},
			{"invalid JSON", jsonResponse(`{"next_cursor": "10234"`), []string{`{"next_cursor": "10234"`}, "200"},
		} {
			var chunks [][]byte
			for _, s := range c.chunks {
				chunks = append(chunks, []byte(s))
			}
			o := e.doWithBody("/v1/orders", [][2]string{{"x-api-key", k.billing}}, c.response, chunks...)
			if string(o.body) != problem {
				t.Errorf("%s: body %q, want the problem document", c.name, o.body)
			}
			status, _ := header(o.response, ":status")
			link, _ := header(o.response, "link")
			if status != c.wantStatus || strings.Contains(link, "10234") {
				t.Errorf("%s: status %s, link %q", c.name, status, link)
			}
			if c.wantStatus == "502" {
				if cl, _ := header(o.response, "content-length"); cl != itoa(len(problem)) {
					t.Errorf("%s: content-length %q", c.name, cl)
				}
				if ct, _ := header(o.response, "content-type"); ct != problemContentType {
					t.Errorf("%s: content-type %q", c.name, ct)
				}
			}
		}
		if got := e.counter(metricname.CursorSealFailed); got != 5 {
			t.Errorf("%s = %d, want 5", metricname.CursorSealFailed, got)
		}
		logs := strings.Join(e.logs(logError), "\n")
		if strings.Count(logs, "apiguard: cursor_seal_failed: route list-orders") != 5 || strings.Contains(logs, "10234") {
			t.Errorf("error logs:\n%s", logs)
		}
		// Not 2xx: nothing to seal, passed as is.
		o := e.doWithBody("/v1/orders", [][2]string{{"x-api-key", k.billing}}, [][2]string{{":status", "404"}, {"content-type", "text/plain"}}, []byte("no such page"))
		if string(o.body) != "no such page" {
			t.Errorf("404 body %q", o.body)
		}
		// The last page: no cursor to seal.
		last := `{"items": [], "next_cursor": null}`
		o = e.doWithBody("/v1/orders", [][2]string{{"x-api-key", k.billing}}, [][2]string{{":status", "200"}, {"content-type", "application/json; charset=utf-8"}}, []byte(last))
		if string(o.body) != last {
			t.Errorf("last page %q", o.body)
		}
	})
}

// TestCursorSealShadowMode: shadow mode changes nothing upstream or
// downstream, cursors included: they pass unsealed both ways.
func TestCursorSealShadowMode(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		cfg := sealedConfig(t, k, nil)
		cfg = []byte(strings.Replace(string(cfg), `{`, `{"mode":"shadow",`, 1))
		e := start(t, vm, cfg)
		o := e.doWithBody("/v1/orders", [][2]string{{"x-api-key", k.billing}}, jsonResponse(pageBody), []byte(pageBody))
		if string(o.body) != pageBody {
			t.Errorf("shadow mode changed the body: %s", o.body)
		}
		if n := nextPage(e, "/v1/orders", k.billing, "10234"); n.local != nil || pathOf(n.upstream) != "/v1/orders?cursor=10234" {
			t.Errorf("shadow mode: %+v", n)
		}
		if got := e.counter(metricname.ShadowWouldDeny); got != 0 {
			t.Errorf("would-deny = %d, want 0 (shadow mode does not judge sealing)", got)
		}
	})
}

// TestCursorSealKeyFromEnvironment: key_env and previous_key_env come from
// the VM's environment; a missing variable fails the start with its path.
func TestCursorSealKeyFromEnvironment(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		cfg := sealedConfig(t, k, func(s map[string]any) {
			delete(s, "key")
			s["key_env"], s["previous_key_env"] = "APIGUARD_TEST_CURSOR_KEY", "APIGUARD_TEST_CURSOR_KEY_OLD"
		})
		failed := startWithStatus(t, vm, cfg, types.OnPluginStartStatusFailed, withEnv(map[string]string{"APIGUARD_TEST_CURSOR_KEY": sealKeyHexNext}))
		want := `pagination.standard.cursor_seal.previous_key_env: environment variable "APIGUARD_TEST_CURSOR_KEY_OLD" is not set in the VM`
		if logs := strings.Join(failed.logs(logCritical), "\n"); !strings.Contains(logs, want) {
			t.Errorf("critical logs lack %q:\n%s", want, logs)
		}
		failed.close()
		old := start(t, vm, sealedConfig(t, k, nil))
		tok := sealedPage(t, old, k.billing)
		old.close()
		e := start(t, vm, cfg, withEnv(map[string]string{"APIGUARD_TEST_CURSOR_KEY": sealKeyHexNext,
			"APIGUARD_TEST_CURSOR_KEY_OLD": base64.StdEncoding.EncodeToString(mustHex(t, sealKeyHex))}))
		if o := nextPage(e, "/v1/orders", k.billing, tok); o.local != nil || pathOf(o.upstream) != "/v1/orders?cursor=10234&limit=20" {
			t.Errorf("previous_key_env's cursor: %+v", o)
		}
		fresh := sealedPage(t, e, k.billing)
		e.close()
		old = start(t, vm, sealedConfig(t, k, nil))
		wantBadCursor(t, nextPage(old, "/v1/orders", k.billing, fresh), "key_env's cursor under the old key alone")
	})
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCursorSealWithKeyStore: with consumers from a key snapshot, cursors
// are bound to the consumer the key resolves to, across snapshot swaps.
func TestCursorSealWithKeyStore(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		cfg := keyStoreConfig(t, k)
		var doc map[string]any
		if err := json.Unmarshal(cfg, &doc); err != nil {
			t.Fatal(err)
		}
		prof := doc["pagination"].(map[string]any)["standard"].(map[string]any)
		prof["max_cursor_length"] = 512
		prof["cursor_seal"] = map[string]any{"response_fields": []any{"next_cursor"}, "key": sealKeyHex}
		cfg, _ = json.Marshal(doc)
		readerReadsOrders := func(consumers []any) {
			consumers[1].(map[string]any)["scopes"] = []any{"files:read", "orders:read"}
		}
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 1, testSigner, readerReadsOrders))
		e := startKeyStoreWith(t, vm, cfg, srv)
		e.deliverAll()
		tok := sealedPage(t, e, k.billing)
		wantBadCursor(t, nextPage(e, "/v1/orders", k.reader, tok), "another snapshot consumer's cursor")
		srv.set(testSnapshot(t, k, 2, testSigner, readerReadsOrders))
		e.refresh()
		if g := e.gauge(metricname.KeyStoreGeneration); g != 2 {
			t.Fatalf("generation %d after the refresh, want 2", g)
		}
		if o := nextPage(e, "/v1/orders", k.billing, tok); o.local != nil || pathOf(o.upstream) != "/v1/orders?cursor=10234&limit=20" {
			t.Errorf("the cursor after a snapshot swap: %+v", o)
		}
	})
}
