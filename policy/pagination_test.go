package policy

import (
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/apiguard/apiguard/policy/keymat"
)

func TestPaginationClamp(t *testing.T) {
	p := mustCompile(t, `{
		"key_sources": [{"header": "x-api-key"}, {"query": "key"}],
		"consumers": [{"id": "c", "keys": [{"id": "k", "sha256": "`+keymat.Hash("secret")+`"}]}],
		"routes": [{"name": "list", "path": "/list", "pagination": "clamp"}, {"name": "pub", "path": "/pub", "public": true, "pagination": "clamp"}],
		"pagination": {"clamp": {"limit_param": "limit", "default_limit": 10, "max_limit": 50,
			"offset_param": "offset", "max_offset": 100, "page_param": "page", "max_page": 5,
			"cursor_param": "cursor", "max_cursor_length": 8, "on_violation": "clamp"}}
	}`)
	tests := []struct {
		path, reason, newPath, detail string
	}{
		{"/list?limit=500", "allowed", "/list?limit=50", ""},
		{"/list?limit=0", "bad_pagination", "", `"limit" must be >= 1`},
		{"/list?page=0", "bad_pagination", "", `"page" must be >= 1`},
		{"/list?offset=0", "allowed", "/list?offset=0&limit=10", ""},
		{"/list?a=1&limit=99999999999999999999999&b=2", "bad_pagination", "", "integer"},
		{"/list?limit=9223372036854775808", "bad_pagination", "", "integer"},
		{"/list?a=1&limit=9223372036854775807&b=2", "allowed", "/list?a=1&limit=50&b=2", ""},
		{"/list?a=1;limit=500&b=2", "allowed", "/list?a=1;limit=50&b=2", ""},
		{"/list?limit[]=500", "allowed", "/list?limit[]=50", ""},
		{"/list?a=1;b=2", "allowed", "/list?a=1;b=2&limit=10", ""},
		{"/list?key=secret;a=1", "allowed", "/list?a=1&limit=10", ""},
		{"/list?offset=101&limit=5", "allowed", "/list?offset=100&limit=5", ""},
		{"/list?page=6&key=secret", "allowed", "/list?page=5&limit=10", ""},
		{"/list?li%6Dit=60", "allowed", "/list?li%6Dit=50", ""},
		{"/list?limit=50", "allowed", "", ""},
		// A path that normalizes is sent normalized, with its query as
		// sent or clamped.
		{"//list?limit=5", "allowed", "/list?limit=5", ""},
		{"/x/../list?a=1&limit=500", "allowed", "/list?a=1&limit=50", ""},
		{"/list?", "allowed", "/list?limit=10", ""},
		{"/list?x=a+b&&y", "allowed", "/list?x=a+b&&y&limit=10", ""},
		{"/list?limit=1e3", "bad_pagination", "", "integer"},
		{"/list?limit=+5", "bad_pagination", "", "integer"},
		{"/list?limit=-1", "bad_pagination", "", "integer"},
		{"/list?limit=5.0", "bad_pagination", "", "integer"},
		{"/list?limit=%zz", "bad_pagination", "", "integer"},
		{"/list?limit", "bad_pagination", "", "integer"},
		{"/list?limit=１", "bad_pagination", "", "integer"},
		{"/list?limit=1&limit=1", "bad_pagination", "", "at most once"},
		{"/list?limit=1&limit[]=1", "bad_pagination", "", "at most once"},
		{"/list?limit=1;limit=1", "bad_pagination", "", "at most once"},
		{"/list?limit%5B0%5D=1&limit=2", "bad_pagination", "", "at most once"},
		{"/list?limit[x]=1&limit[]=1", "bad_pagination", "", "at most once"},
		{"/list?cursor=a&cursor=b", "bad_pagination", "", `"cursor" must appear at most once`},
		{"/list?cursor=123456789", "bad_pagination", "", "at most 8 characters"},
		{"/list?cursor=1&offset=1", "bad_pagination", "", `"offset" and "cursor" cannot be combined`},
		{"/list?page=2&offset=10", "bad_pagination", "", `"offset" and "page" cannot be combined`},
		{"/list?cursor=abc&page=2", "bad_pagination", "", `"page" and "cursor" cannot be combined`},
		{"/list?page=2&limit=5&sort=asc", "allowed", "", ""},
		{"/pub?limit=70&key=garbage", "allowed", "/pub?limit=50", ""},
		{"/pub?limit=x", "bad_pagination", "", "integer"},
	}
	for _, tt := range tests {
		r := get(tt.path)
		if !strings.Contains(tt.path, "key=") {
			r = get(tt.path, "x-api-key", "secret")
		}
		d := p.Decide(r)
		if string(d.Reason) != tt.reason || d.Upstream.NewPath != tt.newPath || !strings.Contains(d.Problem.Detail, tt.detail) {
			t.Errorf("%s: %s %q %q; want %s %q %q", tt.path, d.Reason, d.Upstream.NewPath, d.Problem.Detail, tt.reason, tt.newPath, tt.detail)
		}
		checkDecideInto(t, p, r, d)
	}
}

// checkDecideInto checks that DecideInto decides r as Decide did (want):
// into a decision that held another request's, and with path buffers
// that the new path fits or not; a path written into a buffer with room
// shares its memory.
func checkDecideInto(t *testing.T, p *Policy, r Request, want Decision) {
	t.Helper()
	for _, room := range []int{0, 12, 1024} {
		var d Decision
		other := get("/list?limit=500", "x-api-key", "wrong") // a denial, with a problem
		p.DecideInto(&d, &other)
		buf := make([]byte, 0, room)
		r.PathBuffer = buf
		p.DecideInto(&d, &r)
		if !reflect.DeepEqual(d, want) {
			t.Errorf("%s: DecideInto with %d bytes of path buffer: %+v; Decide: %+v", r.Path, room, d, want)
		}
		np := d.Upstream.NewPath
		if written := strings.Contains(np, "?"); written && room == 1024 && unsafe.StringData(np) != unsafe.SliceData(buf) {
			t.Errorf("%s: new path %q not written into a buffer of %d bytes", r.Path, np, room)
		}
	}
}

func TestParsePlainUint(t *testing.T) {
	tests := []struct {
		in string
		v  int64
		ok bool
	}{
		{"0", 0, true}, {"7", 7, true}, {"100", 100, true}, {"101", 101, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"9223372036854775808", 0, false}, {"123456789012345678901234567890", 0, false},
		{"", 0, false}, {"00", 0, false}, {"01", 0, false}, {"+1", 0, false}, {"-1", 0, false},
		{"1e3", 0, false}, {"0x10", 0, false}, {" 1", 0, false}, {"1 ", 0, false},
		{"999999999999999999", 999999999999999999, true}, {"1000000000000000000", 1000000000000000000, true},
		{"9223372036854775806", 1<<63 - 2, true}, {"9223372036854775810", 0, false},
		{"9999999999999999999", 0, false}, {"10000000000000000000", 0, false}, {"1000000000000000000x", 0, false},
	}
	for _, tt := range tests {
		v, ok := parsePlainUint(tt.in)
		if v != tt.v || ok != tt.ok {
			t.Errorf("parsePlainUint(%q) = %d, %v; want %d, %v", tt.in, v, ok, tt.v, tt.ok)
		}
	}
}

// TestParsePlainUintMatchesStrconv compares parsePlainUint with
// strconv.ParseInt (plus the plain-form rules: digits only, no leading
// zero) on values around every power of ten and around the int64 limit.
func TestParsePlainUintMatchesStrconv(t *testing.T) {
	var ins []string
	for p, n := uint64(1), 0; n < 20; p, n = p*10, n+1 {
		for _, d := range []int64{-2, -1, 0, 1, 2} {
			ins = append(ins, strconv.FormatUint(p+uint64(d), 10))
		}
	}
	for d := -3; d <= 3; d++ {
		ins = append(ins, new(big.Int).Add(big.NewInt(1<<63-1), big.NewInt(int64(d))).String())
	}
	ins = append(ins, "18446744073709551615", "18446744073709551616", "99999999999999999999")
	for _, in := range ins {
		want, err := strconv.ParseInt(in, 10, 64)
		wantOK := err == nil && want >= 0 && (in == "0" || in[0] != '0')
		if !wantOK {
			want = 0
		}
		if v, ok := parsePlainUint(in); v != want || ok != wantOK {
			t.Errorf("parsePlainUint(%q) = %d, %v; strconv says %d, %v", in, v, ok, want, wantOK)
		}
	}
}

func TestKeyNames(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{"limit", true}, {"li%6Dit", true}, {"limit[]", true}, {"limit[0]", true}, {"limit[x]", true},
		{"limit%5B%5D", true}, {"limit%5b0%5d", true}, {"li%6Dit[]", true},
		{"limits", false}, {"limi", false}, {"xlimit", false}, {"limit]", false}, {"limit%5", false}, {"", false},
	}
	for _, tt := range tests {
		if got := keyNames(tt.raw, "limit"); got != tt.want {
			t.Errorf("keyNames(%q, limit) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// TestMayNameRulesOutOnlyWhatKeyNamesRefuses: mayName, the first-byte
// test before keyNames, is true whenever keyNames is, for every spelling
// of every name (an escaped first byte, a space spelled '+', brackets).
func TestMayNameRulesOutOnlyWhatKeyNamesRefuses(t *testing.T) {
	raws := []string{"limit", "%6Cimit", "%6cimit[]", "+x", "%20x", " x", "limit%5B%5D", "x", "", "[]", "%", "+", "Limit"}
	names := []string{"limit", " x", "x", "%", "+", "["}
	ruledOut := 0
	for _, raw := range raws {
		for _, name := range names {
			if keyNames(raw, name) && !mayName(raw, name) {
				t.Errorf("mayName(%q, %q) rules out a key keyNames accepts", raw, name)
			}
			if !mayName(raw, name) {
				ruledOut++
			}
		}
	}
	if ruledOut == 0 {
		t.Error("mayName ruled nothing out")
	}
}

func TestQueryHelpers(t *testing.T) {
	if !componentEquals("a%62+c", "ab c") || componentEquals("ab", "abc") || componentEquals("abc", "ab") || !componentEquals("%zz", "%zz") {
		t.Error("componentEquals")
	}
	if s, ok := decodeComponent("a%41+b"); s != "aA b" || !ok {
		t.Errorf("decodeComponent = %q %v", s, ok)
	}
	if _, ok := decodeComponent("a%4"); ok {
		t.Error("decodeComponent accepted a truncated escape")
	}
	if got := queryEscape("a b/é"); got != "a%20b%2F%C3%A9" {
		t.Errorf("queryEscape = %q", got)
	}
	p := &profile{limitParam: "per page", defaultLimit: 5, maxLimit: 9}
	p.precompute()
	if p.defaultPair != "per%20page=5" {
		t.Errorf("defaultPair = %q", p.defaultPair)
	}
}
