package replay

import (
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
	s := newSnapshotStore("keys", []byte("APGKSNAP0123456789"))
	status := func(hs [][2]string) string { v, _ := header(hs, ":status"); return v }

	hs, body := s.serve([][2]string{{":method", "GET"}, {":path", "/keys.snap"}, {":authority", "keys"}})
	etag, _ := header(hs, "etag")
	if status(hs) != "200" || string(body) != "APGKSNAP0123456789" || etag == "" {
		t.Fatalf("GET: status %s, body %q, ETag %q", status(hs), body, etag)
	}
	hs, body = s.serve([][2]string{{":method", "GET"}, {":path", "/keys.snap"}, {"range", "bytes=8-11"}, {"if-range", etag}})
	if status(hs) != "206" || string(body) != "0123" {
		t.Errorf("range 8-11: status %s, body %q", status(hs), body)
	}
	if cr, _ := header(hs, "content-range"); !strings.HasPrefix(cr, "bytes 8-11/18") {
		t.Errorf("range 8-11: content-range %q", cr)
	}
	hs, body = s.serve([][2]string{{":method", "GET"}, {":path", "/keys.snap"}, {"if-none-match", etag}})
	if status(hs) != "304" || len(body) != 0 {
		t.Errorf("If-None-Match with the ETag: status %s, %d bytes", status(hs), len(body))
	}
}
