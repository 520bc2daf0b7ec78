package policy

import (
	"strings"
	"testing"
)

// refHeaderCredentials is the reading of the header sources as it was
// before headerCredentials: HeaderList.Get per source, then otherSpellings
// walking the headers again.
func refHeaderCredentials(p *Policy, h HeaderList) (count int, value string, mask uint) {
	for i := range p.sources {
		s := &p.sources[i]
		if s.query != "" || len(h) == 0 {
			continue
		}
		v, n := h.Get(s.header)
		if n == 0 {
			continue
		}
		if n == 1 && s.scheme != "" {
			key, ok := cutScheme(v, s.scheme)
			if !ok {
				continue
			}
			v = key
		}
		if count == 0 {
			value = v
		}
		count += n
		mask |= 1 << s.bit
	}
	if p.hide {
		for _, kv := range h {
			for i := range p.sources {
				s := &p.sources[i]
				if s.query != "" || len(kv[0]) != len(s.header) || kv[0] == s.header || !SameHeaderName(kv[0], s.header) {
					continue
				}
				if s.scheme != "" {
					if _, ok := cutScheme(kv[1], s.scheme); !ok {
						continue
					}
				}
				mask |= 1 << s.bit
			}
		}
	}
	return count, value, mask
}

// headerSourceSets are the key_sources of the header differential tests.
var headerSourceSets = []string{
	`[{"header": "x-api-key"}]`,
	`[{"header": "x-api-key"}, {"header": "authorization", "scheme": "ApiKey"}, {"query": "api_key"}]`,
	`[{"query": "k"}, {"header": "authorization", "scheme": "ApiKey"}, {"header": "authorization", "scheme": "Bearer"}, {"header": "x_key"}]`,
}

// headerPolicies compiles a policy for every source set, with and without
// hide_credentials.
func headerPolicies(t testing.TB) []*Policy {
	var out []*Policy
	for _, sources := range headerSourceSets {
		for _, hide := range []string{"true", "false"} {
			out = append(out, mustCompile(t, `{"key_sources": `+sources+`, "hide_credentials": `+hide+`,
				"consumers": [{"id": "c", "keys": [{"id": "k", "sha256": "`+strings.Repeat("a", 64)+`"}]}]}`))
		}
	}
	return out
}

// headerLists are the header lists of the header differential tests.
var headerLists = []HeaderList{
	nil, {}, {{"x-api-key", "k"}}, {{"X-Api-Key", "k"}}, {{"x_api_key", "k"}}, {{"X_API_KEY", "k"}}, {{"x-api-key", ""}},
	{{"x-api-key", "a"}, {"x-api-key", "b"}}, {{"x-api-key", "a"}, {"x_api_key", "b"}}, {{"x_api_key", "b"}, {"X-API-KEY", "a"}},
	{{"authorization", "ApiKey k"}}, {{"Authorization", "apikey  k"}}, {{"authorization", "Bearer k"}}, {{"authorization", "ApiKey"}},
	{{"authorization", "ApiKeys k"}}, {{"authorization", "ApiKey a"}, {"authorization", "Bearer b"}}, {{"authorization", "Basic x"}, {"authorization", "Basic y"}},
	{{"x-key", "k"}, {"x_key", "j"}}, {{"X_Key", "k"}}, {{"x-key", "Bearer k"}}, {{"authorization", "Bearer k"}, {"x-api-key", "k"}},
	{{":path", "/"}, {"host", "h"}, {"x-api-key", "k"}, {"user-agent", "u"}, {"x-api_key", "j"}, {"accept", "*/*"}},
	{{"", ""}, {"x-api-ke", "k"}, {"x-api-keys", "k"}, {"y-api-key", "k"}},
}

// TestHeaderCredentialsMatchReference: one walk over the headers counts
// the same credentials, takes the same value and masks the same sources
// as a walk per source and one for the other spellings.
func TestHeaderCredentialsMatchReference(t *testing.T) {
	for _, p := range headerPolicies(t) {
		for _, h := range headerLists {
			compareHeaderCredentials(t, p, h)
		}
	}
}

// compareHeaderCredentials fails t when headerCredentials and the
// reference differ on h.
func compareHeaderCredentials(t *testing.T, p *Policy, h HeaderList) {
	t.Helper()
	n, v, mask := refHeaderCredentials(p, h)
	var c credentials
	p.findCredentials(&c, h, "", nil)
	if c.count != n || c.value != v || c.headerMask != mask || c.fromQuery {
		t.Errorf("sources %+v, hide %v, headers %q: got %d %q %b, want %d %q %b", p.sources, p.hide, h, c.count, c.value, c.headerMask, n, v, mask)
	}
}

// FuzzHeaderCredentials holds headerCredentials to the reference on any
// three headers.
func FuzzHeaderCredentials(f *testing.F) {
	policies := headerPolicies(f)
	for i, h := range headerLists {
		var kv [6]string
		for j := 0; j < len(h) && j < 3; j++ {
			kv[2*j], kv[2*j+1] = h[j][0], h[j][1]
		}
		f.Add(uint8(i), kv[0], kv[1], kv[2], kv[3], kv[4], kv[5])
	}
	f.Fuzz(func(t *testing.T, sel uint8, n1, v1, n2, v2, n3, v3 string) {
		h := HeaderList{{n1, v1}, {n2, v2}, {n3, v3}}
		compareHeaderCredentials(t, policies[int(sel)%len(policies)], h[:int(sel)/len(policies)%4])
	})
}
