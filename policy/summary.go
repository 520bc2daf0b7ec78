package policy

import (
	"bytes"
	"slices"

	"github.com/tidwall/gjson"
)

// Summary is what a tool that drives the filter with a configuration needs
// to know of it besides the decisions (apiguard replay): how the filter
// runs, which query parameters carry keys (to keep them out of reports),
// which headers carry the identity upstream and where keys come from. It
// is read by policy's own parser, with policy's defaults: tools never
// parse the configuration themselves.
type Summary struct {
	// Shadow and LogAllowed are mode == "shadow" and log_allowed.
	Shadow, LogAllowed bool
	// QueryParams are the query parameters of the key sources.
	QueryParams []string
	// IdentityHeaders are the consumer, key id and scopes headers
	// (lower-case); QuotaHeader the quota header.
	IdentityHeaders [3]string
	QuotaHeader     string
	// KeyStoreCluster is key_store.cluster, "" without a key store.
	KeyStoreCluster string
}

// Summary summarizes the compiled configuration.
func (p *Policy) Summary() Summary {
	s := Summary{Shadow: p.shadow, LogAllowed: p.logAllowed, QueryParams: slices.Clone(p.queryParams),
		IdentityHeaders: p.forward, QuotaHeader: p.quotaHeader}
	if p.keyStore != nil {
		s.KeyStoreCluster = p.keyStore.Cluster
	}
	return s
}

// Summarize returns the Summary of a configuration and Compile's error. A
// configuration that does not compile is still summarized from what could
// be read of it, with the defaults for the rest, so that a tool can go on
// to show the filter refusing it.
func Summarize(text []byte) (Summary, error) {
	p, err := Compile(text)
	if err == nil {
		return p.Summary(), nil
	}
	ps := parser{}
	c := &config{badLimits: map[string]bool{}, badProfiles: map[string]bool{}}
	readObject(&ps, &rootFields, jsonPath{}, gjson.Parse(`{}`), c) // the defaults
	if ps.checkDocument(text) {
		if root := gjson.ParseBytes(text); root.IsObject() {
			c = ps.parseConfig(root)
		}
	}
	s := Summary{Shadow: c.mode == "shadow", LogAllowed: c.logAllowed, IdentityHeaders: c.forward, QuotaHeader: c.quota.header}
	for _, src := range c.sources {
		if src.query != "" {
			s.QueryParams = append(s.QueryParams, src.query)
		}
	}
	if c.keyStore != nil {
		s.KeyStoreCluster = c.keyStore.Cluster
	}
	return s, err
}

// ForceLogAllowed returns config with log_allowed set to true, so that the
// filter logs one decision line for every request, allowed ones included
// (apiguard replay learns an allowed request's route from it). It changes
// nothing else: the member is replaced in place, or added first, and the
// rest of the text is kept byte for byte. The filter reads nothing but its
// configuration, so this is how a tool turns the log on in a module it
// cannot otherwise reach. A configuration that is not a JSON object is
// returned unchanged, for the filter to refuse.
func ForceLogAllowed(config []byte) []byte {
	if !gjson.ValidBytes(config) {
		return config
	}
	root := gjson.ParseBytes(config)
	if !root.IsObject() {
		return config
	}
	const name = "log_allowed"
	v := root.Get(name)
	if v.Exists() && v.Index > 0 {
		if v.Type == gjson.True {
			return config
		}
		out := make([]byte, 0, len(config)+4)
		out = append(out, config[:v.Index]...)
		out = append(out, "true"...)
		return append(out, config[v.Index+len(v.Raw):]...)
	}
	open := bytes.IndexByte(config, '{')
	member := `"` + name + `":true`
	if len(root.Map()) > 0 {
		member += ","
	}
	out := make([]byte, 0, len(config)+len(member))
	out = append(out, config[:open+1]...)
	out = append(out, member...)
	return append(out, config[open+1:]...)
}

// DefaultSummary is the Summary of a configuration that sets nothing: the
// defaults of the schema tables, such as the identity headers.
func DefaultSummary() Summary {
	s, _ := Summarize([]byte(`{}`))
	return s
}

// IsKeyParam reports whether the raw (still percent-encoded) query
// parameter name is one the filter reads a key from: a key source's
// parameter under every spelling the filter takes for it (percent-encoded,
// '+' for a space, or followed by a bracket suffix such as "api_key[]").
func (s Summary) IsKeyParam(raw string) bool {
	for _, q := range s.QueryParams {
		if keyNames(raw, q) {
			return true
		}
	}
	return false
}
