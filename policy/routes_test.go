package policy

import "testing"

func TestRouteMatching(t *testing.T) {
	p := mustCompile(t, `{
		"unmatched": "allow_authenticated",
		"consumers": [{"id": "c", "keys": [{"id": "k", "sha256": "`+HashKey("secret")+`"}]}],
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
		{"GET", "/users/42", "user-get"},
		{"HEAD", "/users/42", "user-get"},
		{"get", "/users/42", "user-any"},
		{"PUT", "/users/42", "user-any"},
		{"GET", "/users/42/", ""},
		{"GET", "/users/", ""},
		{"GET", "/users", ""},
		{"GET", "/users/42/posts/7", "posts"},
		{"GET", "/users/42/posts/latest", "posts"},
		{"DELETE", "/admin/x", "admin-all"},
		{"GET", "/admin/x", "admin-x"},
		{"DELETE", "/admin", "admin-all"},
		{"GET", "/admin", ""},
		{"GET", "/dir/", "trailing"},
		{"GET", "/dir", ""},
		{"GET", "/p/1/", "param-trailing"},
		{"GET", "/p/1", ""},
		{"GET", "/files", "files"},
		{"GET", "/files/", "files"},
		{"GET", "/files/a/b", "files"},
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
