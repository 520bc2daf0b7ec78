package replay

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestHasKeyStore(t *testing.T) {
	for _, tt := range []struct {
		config string
		want   bool
	}{
		{`{"key_store": {"cluster": "keys", "path": "/k"}, "routes": []}`, true},
		{`{"consumers": [], "routes": []}`, false},
		{`{"key_store": {"cluster": 3}}`, false},
		{`not json`, false},
	} {
		if got := HasKeyStore([]byte(tt.config)); got != tt.want {
			t.Errorf("HasKeyStore(%s) = %v, want %v", tt.config, got, tt.want)
		}
	}
}

// TestSnapshotStoreServes: the store answers as an HTTP server with ETag
// and Range support would: the whole snapshot, a range, 304 for the
// current ETag.
func TestSnapshotStoreServes(t *testing.T) {
	s := newSnapshotStore([]byte("APGKSNAP0123456789"))
	status := func(hs [][2]string) string { v, _ := header(hs, ":status"); return v }

	hs, body := serve(s, [][2]string{{":method", "GET"}, {":path", "/keys.snap"}, {":authority", "keys"}})
	etag, _ := header(hs, "etag")
	if status(hs) != "200" || string(body) != "APGKSNAP0123456789" || etag == "" {
		t.Fatalf("GET: status %s, body %q, ETag %q", status(hs), body, etag)
	}
	hs, body = serve(s, [][2]string{{":method", "GET"}, {":path", "/keys.snap"}, {"range", "bytes=8-11"}, {"if-range", etag}})
	if status(hs) != "206" || string(body) != "0123" {
		t.Errorf("range 8-11: status %s, body %q", status(hs), body)
	}
	if cr, _ := header(hs, "content-range"); !strings.HasPrefix(cr, "bytes 8-11/18") {
		t.Errorf("range 8-11: content-range %q", cr)
	}
	hs, body = serve(s, [][2]string{{":method", "GET"}, {":path", "/keys.snap"}, {"if-none-match", etag}})
	if status(hs) != "304" || len(body) != 0 {
		t.Errorf("If-None-Match with the ETag: status %s, %d bytes", status(hs), len(body))
	}
}

// serve runs h on a request with headers hs, as the driver does for a call
// to its cluster, and returns the response's headers (:status first) and
// body.
func serve(h http.Handler, hs [][2]string) ([][2]string, []byte) {
	path, _ := header(hs, ":path")
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for _, kv := range hs {
		if !strings.HasPrefix(kv[0], ":") {
			r.Header.Add(kv[0], kv[1])
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	out := [][2]string{{":status", strconv.Itoa(rec.Code)}}
	for k, vs := range rec.Result().Header {
		for _, v := range vs {
			out = append(out, [2]string{strings.ToLower(k), v})
		}
	}
	return out, rec.Body.Bytes()
}
