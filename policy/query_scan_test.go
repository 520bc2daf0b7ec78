package policy

import (
	"strings"
	"testing"
)

// scanCredParams are the credential parameter sets of the differential
// tests: none, the usual one, two, and names that meet the profiles'
// (a space spelled '+', a prefix, a bracket spelling of "limit").
var scanCredParams = [][]string{nil, {"api_key"}, {"key", "token"}, {"a b", "lim"}, {"limit[0]"}}

// scanProfiles compiles one profile of each shape the differential tests
// use, with a cursor sealed for route "list" and consumer "alice": the
// profiles by name (nil for none) and that cursor.
func scanProfiles(t testing.TB) (profiles []*profile, sealedCursor string) {
	p := mustCompile(t, `{"routes": [
		{"name": "list", "path": "/list", "pagination": "sealed", "public": true},
		{"name": "reject", "path": "/reject", "pagination": "reject", "public": true},
		{"name": "clamp", "path": "/clamp", "pagination": "clamp", "public": true},
		{"name": "limit", "path": "/limit", "pagination": "limit", "public": true}],
	  "pagination": {
		"reject": {"limit_param": "limit", "default_limit": 20, "max_limit": 100, "offset_param": "offset", "max_offset": 10000,
			"page_param": "page", "max_page": 500, "cursor_param": "cursor", "max_cursor_length": 16},
		"clamp": {"limit_param": "limit", "default_limit": 10, "max_limit": 50, "offset_param": "offset", "max_offset": 0,
			"page_param": "p g", "max_page": 5, "cursor_param": "c", "max_cursor_length": 8, "on_violation": "clamp"},
		"limit": {"limit_param": "limit", "max_limit": 100, "on_violation": "clamp"},
		"sealed": {"limit_param": "limit", "max_limit": 100, "on_violation": "clamp", "cursor_param": "cursor", "max_cursor_length": 512,
			"cursor_seal": {"link_header": true, "key": "`+testSealKey+`"}}}}`)
	profiles = []*profile{nil}
	for _, path := range []string{"/list", "/reject", "/clamp", "/limit"} {
		profiles = append(profiles, p.router.match("GET", path).profile)
	}
	tok, err := p.CursorSeals()[0].Seal("a b/c", "list", "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	return profiles, tok
}

// scanQueries are the queries of the differential tests; cursor is a
// sealed cursor.
func scanQueries(cursor string) []string {
	return []string{
		"", "&", "&&", ";", "a", "=", "==", "a=1", "a=1&", "&a=1", "&&a=1&&", ";;a=1;", "a=1;b=2&c",
		"limit=5000&sort=asc", "limit=500", "limit=50", "limit=5", "limit=0", "limit=", "limit", "limit==5", "limit=1e3", "limit=%35%30%30",
		"&limit=500", ";limit=500&x=1", "&&offset=999999;a", "a=1&&limit=500&&", "limit=500&offset=99999&x", "x=1;page=99&limit=9999;",
		"limit=0500", "limit=500&limit=50",
		"limit=5+0", "limit=%2B5", "limit=%zz", "li%6Dit=60", "LIMIT=500", "limit[]=500", "limit%5B%5D=500", "limit%5b0%5d=1&limit=2",
		"limit[0]=500", "limit[x]=1&limit[]=1", "limit=1&limit=1", "limit=1;limit=abc", "limit=abc&limit=1", "x=1;limit=500&y=2",
		"offset=1&offset=2", "offset=0", "offset=5", "offset=10001", "page=0", "page=6&limit=5", "p+g=9", "p%20g=9&limit=70",
		"cursor=abc", "cursor=" + strings.Repeat("a", 17), "c=123456789", "c=1&offset=0", "cursor=a&cursor=b", "cursor=1&offset=1",
		"page=2&offset=10", "cursor=abc&page=2", "offset=1&limit=1&limit=2&page=x", "limit=abc&offset=1&offset=2",
		"cursor=" + cursor, "cursor=" + cursor + "&limit=500&x=1", "x=1&cursor=" + cursor + ";api_key=k", "cursor=%zz", "cursor=",
		"api_key=k", "api_key=k&api_key=k", "api%5Fkey=k&a=1", "api_key[]=k;x=1", "a=1&api_key=k&b=2", "api_key=k&limit=500",
		"api_key=%zz", "api_key", "&api_key=k&&limit=7", "a=1&&api_key=k", "a=1&&&api_key=k", "api_key=k&", "api_key=k;&;b",
		"api_key=1&api_key=2&api_key=3&api_key=4&api_key=5&limit=500&x", "key=1&token=2&key=3&token=4&key=5;z=6&limit=600",
		"a+b=k&lim=2&limit=900", "a%20b=k&lim[]=2", "limit[0]=7&limit=500", "token=t&page=7&key[a]=k", "+=1&%=2&[=3&]=4",
		"api_key=k&api_key=k&api_key=k&api_key=k&api_key=k&api_key=k&a=1&cursor=" + cursor,
	}
}

// scanOutcome runs the one-pass code over query as Decide does, as the
// reference's result.
func scanOutcome(credParams []string, hide bool, prof *profile, query string, sc *sealContext) refResult {
	p := &Policy{queryParams: credParams, hide: hide}
	var c credentials
	p.findCredentials(&c, nil, query, &route{profile: prof})
	// A buffer that some new paths fit and some outgrow, as the filter's.
	newPath, detail := p.rewrite(make([]byte, 0, 40), "/", "/", query, true, prof, &c, sc)
	r := refResult{count: c.count, value: c.value, detail: detail, edit: newPath != ""}
	if len(newPath) > 2 {
		r.newQuery = newPath[2:]
	}
	if detail != "" {
		r.edit = false
	}
	return r
}

// compareScan fails t when the one-pass code and the reference differ on
// query.
func compareScan(t *testing.T, credParams []string, hide bool, prof *profile, query string) {
	t.Helper()
	sc := &sealContext{open: true, route: "list", consumer: "alice", now: now}
	want := refQuery(query, credParams, hide, prof, sc)
	want.unsealed = false
	got := scanOutcome(credParams, hide, prof, query, sc)
	if got != want {
		name := "none"
		if prof != nil {
			name = prof.name
		}
		t.Errorf("query %q, credentials %q, hide %v, profile %s:\n got %+v\nwant %+v", query, credParams, hide, name, got, want)
	}
}

// TestQueryScanMatchesReference: the one-pass scan, check and rewrite find
// the same credentials, refuse the same queries with the same details and
// write the same upstream query as the three passes they replace, for
// every credential set, profile and hide_credentials.
func TestQueryScanMatchesReference(t *testing.T) {
	profiles, cursor := scanProfiles(t)
	for _, query := range scanQueries(cursor) {
		for _, creds := range scanCredParams {
			for _, prof := range profiles {
				for _, hide := range []bool{true, false} {
					compareScan(t, creds, hide, prof, query)
				}
			}
		}
	}
}

// TestQueryScanOverflow: more credential parameters than the scan records
// are still all counted, and all stripped on a public route.
func TestQueryScanOverflow(t *testing.T) {
	p := mustCompile(t, `{"key_sources": [{"query": "api_key"}],
		"routes": [{"name": "pub", "path": "/pub", "public": true, "pagination": "c"}],
		"pagination": {"c": {"limit_param": "limit", "max_limit": 10, "on_violation": "clamp"}}}`)
	q := strings.Repeat("api_key=k&", scanCredPairs+2) + "limit=50&x=1;api%5fkey=k"
	var c credentials
	p.findCredentials(&c, nil, q, p.router.match("GET", "/pub"))
	if !c.scan.overflow || c.count != scanCredPairs+3 {
		t.Fatalf("overflow %v, count %d", c.scan.overflow, c.count)
	}
	if d := p.Decide(get("/pub?" + q)); !d.Allow || d.Upstream.NewPath != "/pub?limit=10&x=1" || !d.Identity.KeyPresented {
		t.Errorf("decision %+v", d)
	}
}

// TestAppendUint writes what strconv does.
func TestAppendUint(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0"}, {7, "7"}, {10, "10"}, {100, "100"}, {1_000_000_000_000, "1000000000000"}, {1<<63 - 1, "9223372036854775807"}} {
		if got := string(appendUint([]byte("x"), tt.n)); got != "x"+tt.want {
			t.Errorf("appendUint(%d) = %q", tt.n, got)
		}
	}
}

// FuzzQueryScan holds the one-pass code to the reference on any query.
func FuzzQueryScan(f *testing.F) {
	profiles, cursor := scanProfiles(f)
	for i, q := range scanQueries(cursor) {
		f.Add(q, uint8(i), uint8(i/3), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, query string, credSel, profSel uint8, hide bool) {
		compareScan(t, scanCredParams[int(credSel)%len(scanCredParams)], hide, profiles[int(profSel)%len(profiles)], query)
	})
}
