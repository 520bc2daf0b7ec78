package policy

import (
	"strconv"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/policy/keymat"
)

func TestRouteMatching(t *testing.T) {
	p := mustCompile(t, `{
		"unmatched": "allow_authenticated",
		"consumers": [{"id": "c", "keys": [{"id": "k", "sha256": "`+keymat.Hash("secret")+`"}]}],
		"routes": [
			{"name": "root", "path": "/"},
			{"name": "me", "methods": ["GET"], "path": "/users/me"},
			{"name": "user-get", "methods": ["get", "HEAD"], "path": "/users/{id}"},
			{"name": "user-any", "path": "/users/{id}"},
			{"name": "posts", "path": "/users/{id}/posts/{post}"},
			{"name": "posts-literal", "path": "/users/{id}/posts/latest"},
			{"name": "admin-all", "methods": ["DELETE"], "path": "/admin/*"},
			{"name": "admin-x", "path": "/admin/x"},
			{"name": "trailing", "path": "/dir/"},
			{"name": "param-trailing", "path": "/p/{x}/"},
			{"name": "files", "path": "/files/*"},
			{"name": "files-deep", "path": "/files/a/{b}"},
			{"name": "everything", "methods": ["OPTIONS"], "path": "/*"}
		]}`)
	tests := []struct {
		method, path, route string
	}{
		{"GET", "/", "root"},
		{"GET", "/users/me", "me"},
		{"POST", "/users/me", "user-any"},
		{"GET", "/users/42", "user-any"},
		{"HEAD", "/users/42", "user-get"},
		{"get", "/users/42", "user-get"}, // methods are case-sensitive: "get" was configured
		{"PUT", "/users/42", "user-any"},
		{"GET", "/users/42/", ""},
		{"GET", "/users/", ""},
		{"GET", "/users", ""},
		{"GET", "/users/42/posts/7", "posts"},
		{"GET", "/users/42/posts/latest", "posts-literal"},
		{"GET", "/users/42/posts/earliest", "posts"},
		{"DELETE", "/admin/x", "admin-x"},
		{"DELETE", "/admin/y", "admin-all"},
		{"GET", "/admin/x", "admin-x"},
		{"DELETE", "/admin", "admin-all"},
		{"GET", "/admin", ""},
		{"GET", "/dir/", "trailing"},
		{"GET", "/dir", ""},
		{"GET", "/p/1/", "param-trailing"},
		{"GET", "/p/1", ""},
		{"GET", "/files", "files"},
		{"GET", "/files/", "files"},
		{"GET", "/files/a/b", "files-deep"},
		{"GET", "/files/a/b/c", "files"},
		{"GET", "/files/b/c", "files"},
		{"OPTIONS", "/users/42", "user-any"},
		{"OPTIONS", "/nothing/here", "everything"},
		{"OPTIONS", "/", "root"},
		{"GET", "/nothing", ""},
	}
	for _, tt := range tests {
		d := p.Decide(Request{Method: tt.method, Path: tt.path, Headers: HeaderList{{"x-api-key", "secret"}}})
		if !d.Allow || d.Route != tt.route {
			t.Errorf("%s %s: route %q (%s), want %q", tt.method, tt.path, d.Route, d.Reason, tt.route)
		}
	}
}

// TestMostSpecificRouteWins: the same routes in every order give the same
// answers, and the most specific route wins.
func TestMostSpecificRouteWins(t *testing.T) {
	routes := []string{
		`{"name": "read-anything", "path": "/v2/payments/*", "scopes": ["payments:read"]}`,
		`{"name": "create-payment", "methods": ["POST"], "path": "/v2/payments", "scopes": ["payments:write"]}`,
		`{"name": "payment", "path": "/v2/payments/{id}"}`,
		`{"name": "payment-get", "methods": ["GET"], "path": "/v2/payments/{id}"}`,
		`{"name": "refunds", "path": "/v2/payments/{id}/refunds"}`,
		`{"name": "latest-any", "path": "/v2/{kind}/latest"}`,
		`{"name": "deep", "path": "/v2/payments/archive/*"}`,
		`{"name": "root", "path": "/*"}`,
	}
	tests := []struct{ method, path, route string }{
		{"POST", "/v2/payments", "create-payment"},
		{"GET", "/v2/payments", "read-anything"},
		{"GET", "/v2/payments/7", "payment-get"},
		{"DELETE", "/v2/payments/7", "payment"},
		{"GET", "/v2/payments/7/refunds", "refunds"},
		{"GET", "/v2/payments/7/other", "read-anything"},
		{"GET", "/v2/payments/latest", "payment-get"}, // payments (literal) before {kind}
		{"GET", "/v2/orders/latest", "latest-any"},
		{"GET", "/v2/payments/archive", "deep"},
		{"GET", "/v2/payments/archive/2020/1", "deep"},
		{"GET", "/v3", "root"},
	}
	perms := [][]int{{0, 1, 2, 3, 4, 5, 6, 7}, {7, 6, 5, 4, 3, 2, 1, 0}, {3, 0, 7, 1, 5, 2, 6, 4}}
	for _, perm := range perms {
		list := ""
		for i, j := range perm {
			if i > 0 {
				list += ","
			}
			list += routes[j]
		}
		p := mustCompile(t, `{"consumers": [{"id": "c", "scopes": ["payments:read", "payments:write"],
			"keys": [{"id": "k", "sha256": "`+keymat.Hash("secret")+`"}]}], "routes": [`+list+`]}`)
		for _, tt := range tests {
			d := p.Decide(Request{Method: tt.method, Path: tt.path, Headers: HeaderList{{"x-api-key", "secret"}}})
			if d.Route != tt.route {
				t.Errorf("order %v: %s %s: route %q (%s), want %q", perm, tt.method, tt.path, d.Route, d.Reason, tt.route)
			}
		}
	}
}

// TestRouteMatchingAnyFanOut: a node finds its literal children whether it
// searches them in a list or, past maxListedChildren, in a map; an exact
// path is found at every length, 63 bytes and more sharing one bit of the
// length filter.
func TestRouteMatchingAnyFanOut(t *testing.T) {
	for _, n := range []int{1, maxListedChildren, maxListedChildren + 1, 40} {
		var routes []string
		for i := range n {
			seg := "r" + strconv.Itoa(i) + "z" // no segment a prefix of another
			routes = append(routes, `{"name": "lit-`+seg+`", "path": "/v1/`+seg+`/{id}"}`)
		}
		exact := []string{"/e", "/" + strings.Repeat("a", 61), "/" + strings.Repeat("b", 62), "/" + strings.Repeat("c", 63), "/" + strings.Repeat("d", 200)}
		if n == 1 {
			exact = exact[4:] // only a long one
		}
		for _, e := range exact {
			routes = append(routes, `{"name": "exact-`+strconv.Itoa(len(e))+`", "path": "`+e+`"}`)
		}
		routes = append(routes, `{"name": "any-param", "path": "/v1/{kind}/{id}"}`)
		p := mustCompile(t, `{"consumers": [{"id": "c", "keys": [{"id": "k", "sha256": "`+keymat.Hash("secret")+`"}]}],
			"routes": [`+strings.Join(routes, ",")+`]}`)
		route := func(path string) string {
			d := p.Decide(Request{Method: "GET", Path: path, Headers: HeaderList{{"x-api-key", "secret"}}})
			return d.Route
		}
		for i := range n {
			seg := "r" + strconv.Itoa(i) + "z" // no segment a prefix of another
			if got := route("/v1/" + seg + "/7"); got != "lit-"+seg {
				t.Errorf("%d children: /v1/%s/7 went to %q", n, seg, got)
			}
			// One byte more or less is another segment: the param route.
			if got := route("/v1/" + seg + "y/7"); got != "any-param" {
				t.Errorf("%d children: /v1/%sy/7 went to %q", n, seg, got)
			}
			if got := route("/v1/" + seg[:len(seg)-1] + "/7"); got != "any-param" {
				t.Errorf("%d children: /v1/%s/7 went to %q", n, seg[:len(seg)-1], got)
			}
		}
		for _, e := range exact {
			if got := route(e); got != "exact-"+strconv.Itoa(len(e)) {
				t.Errorf("%d children: %s (%d bytes) went to %q", n, e[:min(len(e), 20)], len(e), got)
			}
			// The same length, another path: no route.
			other := e[:len(e)-1] + "z"
			if got := route(other); got != "" {
				t.Errorf("%d children: %s… (%d bytes) went to %q", n, other[:min(len(other), 20)], len(other), got)
			}
		}
		if got := route("/" + strings.Repeat("d", 120)); got != "" {
			t.Errorf("%d children: a long path of no route went to %q", n, got)
		}
	}
}

// TestReadRouteCannotCreate is the case: a broad read route listed
// first no longer takes over the stricter create route.
func TestReadRouteCannotCreate(t *testing.T) {
	p := mustCompile(t, `{"consumers": [{"id": "reader", "scopes": ["payments:read"],
		"keys": [{"id": "k", "sha256": "`+keymat.Hash("secret")+`"}]}], "routes": [
		{"name": "read-anything", "path": "/v2/payments/*", "scopes": ["payments:read"]},
		{"name": "create-payment", "methods": ["POST"], "path": "/v2/payments", "scopes": ["payments:write"]}]}`)
	d := p.Decide(Request{Method: "POST", Path: "/v2/payments", Headers: HeaderList{{"x-api-key", "secret"}}})
	if d.Allow || d.Reason != ReasonInsufficientScope || d.Route != "create-payment" {
		t.Errorf("POST with payments:read only: allow %v, reason %s, route %q", d.Allow, d.Reason, d.Route)
	}
}

func TestSamePatternOverlappingMethodsIsAnError(t *testing.T) {
	tests := []struct {
		routes string
		want   string // "" = valid
	}{
		{`{"name": "a", "path": "/x"}, {"name": "b", "path": "/x"}`, `routes[1].path: route "b" and route "a" (routes[0])`},
		{`{"name": "a", "methods": ["GET", "PUT"], "path": "/x/{id}"}, {"name": "b", "methods": ["PUT"], "path": "/x/{other}"}`, `routes[1].path: route "b" and route "a" (routes[0])`},
		{`{"name": "a", "path": "/x/*"}, {"name": "b", "path": "/x/*"}`, `routes[1].path: route "b" and route "a" (routes[0])`},
		{`{"name": "a", "methods": ["GET"], "path": "/x"}, {"name": "b", "methods": ["POST"], "path": "/x"}`, ""},
		{`{"name": "a", "methods": ["GET"], "path": "/x"}, {"name": "b", "path": "/x"}`, ""},
		{`{"name": "a", "path": "/x/*"}, {"name": "b", "path": "/x/{id}"}`, ""},
	}
	for _, tt := range tests {
		_, err := Compile([]byte(`{"unmatched": "allow_authenticated", "routes": [` + tt.routes + `]}`))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.routes, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want it to contain %q", tt.routes, err, tt.want)
		}
	}
}

func TestHeaderList(t *testing.T) {
	h := HeaderList{{"X-A", "1"}, {"x-b", "2"}, {"x-a", "3"}}
	if v, n := h.Get("x-a"); v != "1" || n != 2 {
		t.Errorf("Get(x-a) = %q, %d", v, n)
	}
	if v, n := h.Get("x-c"); v != "" || n != 0 {
		t.Errorf("Get(x-c) = %q, %d", v, n)
	}
	if equalFoldASCII("a", "ab") || !equalFoldASCII("Ab-Z", "aB-z") || equalFoldASCII("a", "b") {
		t.Error("equalFoldASCII")
	}
}

func TestSameHeaderName(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"x-apiguard-consumer", "x-apiguard-consumer", true},
		{"x-apiguard-consumer", "x_apiguard_consumer", true},
		{"x-apiguard-key-id", "X_Apiguard-Key_ID", true},
		{"x_a", "x-a", true},
		{"x-apiguard-consumer", "x-apiguard-consumers", false},
		{"x-a", "x.a", false},
		{"x-a", "x-b", false},
	}
	for _, tt := range tests {
		if got := SameHeaderName(tt.a, tt.b); got != tt.want {
			t.Errorf("SameHeaderName(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestDocsRouteExample checks the example of docs/configuration.md's Route matching
// section.
func TestDocsRouteExample(t *testing.T) {
	p := mustCompile(t, `{"consumers": [{"id": "c", "scopes": ["payments:read", "payments:write", "payments:refund"],
		"keys": [{"id": "k", "sha256": "`+keymat.Hash("secret")+`"}]}], "routes": [
		{"name": "read-anything",  "path": "/v2/payments/*",           "scopes": ["payments:read"]},
		{"name": "create-payment", "path": "/v2/payments", "methods": ["POST"], "scopes": ["payments:write"]},
		{"name": "payment",        "path": "/v2/payments/{id}",        "scopes": ["payments:read"]},
		{"name": "refund",         "path": "/v2/payments/{id}/refund", "methods": ["POST"], "scopes": ["payments:refund"]}]}`)
	for _, tt := range []struct{ method, path, route string }{
		{"POST", "/v2/payments", "create-payment"},
		{"GET", "/v2/payments", "read-anything"},
		{"GET", "/v2/payments/7", "payment"},
		{"POST", "/v2/payments/7/refund", "refund"},
		{"GET", "/v2/payments/7/refund", "read-anything"},
	} {
		if d := p.Decide(Request{Method: tt.method, Path: tt.path, Headers: HeaderList{{"x-api-key", "secret"}}}); d.Route != tt.route {
			t.Errorf("%s %s: route %q, want %q", tt.method, tt.path, d.Route, tt.route)
		}
	}
}
