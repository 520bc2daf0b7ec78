package policy

import "testing"

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in, want, bad string
	}{
		{"/", "/", ""},
		{"/a/b", "/a/b", ""},
		{"/a/b/", "/a/b/", ""},
		{"/a;v=1/b", "/a;v=1/b", ""},
		{"/.well-known/x", "/.well-known/x", ""},
		{"/a/...", "/a/...", ""},
		{"//", "/", ""},
		{"//a///b//", "/a/b/", ""},
		{"/a/./b", "/a/b", ""},
		{"/a/.", "/a/", ""},
		{"/a/./", "/a/", ""},
		{"/a/b/..", "/a/", ""},
		{"/a/b/../c", "/a/c", ""},
		{"/a/../b/../c", "/c", ""},
		{"/a/..", "/", ""},
		{"/%2e%2e/x", "", detailPathEscapesRoot},
		{"/a/%2e%2E/b", "/b", ""},
		{"/a/%2e/b", "/a/b", ""},
		{"/%41%7e%2D%5f", "/A~-_", ""},
		{"/a%20b", "/a%20b", ""},
		{"/a%3fb", "/a%3Fb", ""},
		{"/a%25/2e", "/a%25/2e", ""},
		{"/a%252e%252e/", "/a%252e%252e/", ""},
		{"/..", "", detailPathEscapesRoot},
		{"/a/../..", "", detailPathEscapesRoot},
		{"/a/../../b", "", detailPathEscapesRoot},
		{"/a%2Fb", "", detailPathEncodedSlash},
		{"/a%2fb", "", detailPathEncodedSlash},
		{"/a%5Cb", "", detailPathEncodedSlash},
		{"/a%", "", detailPathBadEscape},
		{"/a%2", "", detailPathBadEscape},
		{"/a%g0", "", detailPathBadEscape},
		{"/a b", "", detailPathBadChar},
		{"/a\x00", "", detailPathBadChar},
		{"/a\x7f", "", detailPathBadChar},
		{"/é", "", detailPathBadChar},
		{"/\xff", "", detailPathBadChar},
		{"/a#b", "", detailPathFragment},
		{"/a/%23b", "/a/%23b", ""},
		{"/%C3%A9", "/%C3%A9", ""},
		{"/%e2%82%ac/x", "/%E2%82%AC/x", ""},
		{"/%F0%9F%98%80", "/%F0%9F%98%80", ""},
		{"/%C0%AE%C0%AE/x", "", detailPathBadUTF8},
		{"/%C0%AE", "", detailPathBadUTF8},
		{"/%E0%80%AE", "", detailPathBadUTF8},
		{"/%ED%A0%80", "", detailPathBadUTF8},
		{"/%C3", "", detailPathBadUTF8},
		{"/%C3/%A9", "", detailPathBadUTF8},
		{"/%C3a", "", detailPathBadUTF8},
		{"/%C3%41", "", detailPathBadUTF8},
		{"/%A9", "", detailPathBadUTF8},
		{"/%FF", "", detailPathBadUTF8},
		{"/%F4%90%80%80", "", detailPathBadUTF8},
		{"/a\\b", "", detailPathBadChar},
		{"//a\\b", "", detailPathBadChar},
		{"/a/..;/b", "", detailPathDotParam},
		{"/a/.;x/b", "", detailPathDotParam},
		{"/a/%2e%2e;/b", "", detailPathDotParam},
		{"", "", detailPathNotAbsolute},
		{"a/b", "", detailPathNotAbsolute},
		{"*", "", detailPathNotAbsolute},
	}
	for _, tt := range tests {
		got, bad := normalizePath(tt.in)
		if got != tt.want || bad != tt.bad {
			t.Errorf("normalizePath(%q) = %q, %q; want %q, %q", tt.in, got, bad, tt.want, tt.bad)
		}
	}
}

func TestNormalizePathNoAlloc(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		normalizePath("/v1/orders/1234/items/.well-known")
	})
	if allocs != 0 {
		t.Errorf("normalizePath allocates %v times for a normal path", allocs)
	}
}

func TestSplitPathQuery(t *testing.T) {
	tests := []struct {
		in, path, query string
		has             bool
	}{
		{"/a", "/a", "", false},
		{"/a?", "/a", "", true},
		{"/a?b=1?c", "/a", "b=1?c", true},
	}
	for _, tt := range tests {
		p, q, has := splitPathQuery(tt.in)
		if p != tt.path || q != tt.query || has != tt.has {
			t.Errorf("splitPathQuery(%q) = %q %q %v", tt.in, p, q, has)
		}
	}
}
