package main

import (
	"testing"

	"github.com/apiguard/apiguard/policy"
)

// TestMethodAndPath: methodAndPath finds what HeaderList.Get finds.
func TestMethodAndPath(t *testing.T) {
	for _, h := range []policy.HeaderList{
		nil,
		{{":method", "GET"}, {":path", "/a"}},
		{{":path", "/a"}, {":method", "GET"}, {":path", "/b"}, {":method", "POST"}},
		{{":METHOD", "PUT"}, {":Path", "/c"}},
		{{":authority", "x"}, {"x-path", "/d"}, {":pat", "/e"}, {":path_", "/f"}},
		{{":method", ""}, {":method", "GET"}, {":path", ""}},
		{{":me_hod", "GET"}, {":pa-h", "/g"}},
	} {
		m, p := methodAndPath(h)
		wm, _ := h.Get(":method")
		wp, _ := h.Get(":path")
		if m != wm || p != wp {
			t.Errorf("%q: %q %q, want %q %q", h, m, p, wm, wp)
		}
	}
}
