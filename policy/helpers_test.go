package policy

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

// now is the request time used by the tests: inside billing-2026's validity.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// loadExample compiles testdata/example.json and returns it with the demo
// keys of testdata/example-keys.txt by key id.
func loadExample(t testing.TB) (*Policy, map[string]string) {
	t.Helper()
	data, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(data)
	if err != nil {
		t.Fatalf("example.json: %v", err)
	}
	f, err := os.Open("testdata/example-keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, key, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		keys[id] = key
	}
	return p, keys
}

// mustCompile compiles a test configuration.
func mustCompile(t testing.TB, config string) *Policy {
	t.Helper()
	p, err := Compile([]byte(config))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// get builds a GET request with the given headers (name, value, ...).
func get(path string, headers ...string) Request {
	return req("GET", path, headers...)
}

// req builds a request with the given headers (name, value, ...).
func req(method, path string, headers ...string) Request {
	var h HeaderList
	for i := 0; i+1 < len(headers); i += 2 {
		h = append(h, [2]string{headers[i], headers[i+1]})
	}
	return Request{Method: method, Path: path, Headers: h, ClientIP: "192.0.2.10", Now: now}
}

// validReason reports whether r is one of Reasons().
func validReason(r Reason) bool {
	for _, v := range Reasons() {
		if v == r {
			return true
		}
	}
	return false
}
