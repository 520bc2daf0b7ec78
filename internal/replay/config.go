package replay

import (
	"strings"

	"github.com/apiguard/apiguard/policy"
)

// configInfo is what a run needs to know about the configuration besides
// what the filter reports: which query parameters carry keys (to keep them
// out of reports) and which headers carry the identity upstream. It comes
// from policy.Summarize, policy's own reading of the configuration with its
// defaults: replay never parses the configuration itself.
type configInfo struct {
	shadow         bool
	queryParams    []string
	consumerHeader string
	keyIDHeader    string
	scopesHeader   string
	// keyStoreCluster is key_store.cluster, "" without a key store.
	keyStoreCluster string
	// summary is what queryParams and the rest come from; its IsKeyParam
	// names a key parameter as the filter does.
	summary policy.Summary
}

// readConfigInfo reads configInfo from a plugin configuration. It does not
// refuse anything: a configuration that does not compile is summarized from
// what policy could read of it, and the filter refuses it when it starts.
func readConfigInfo(config []byte) configInfo {
	s, _ := policy.Summarize(config)
	return configInfo{
		shadow:          s.Shadow,
		queryParams:     s.QueryParams,
		consumerHeader:  s.IdentityHeaders[0],
		keyIDHeader:     s.IdentityHeaders[1],
		scopesHeader:    s.IdentityHeaders[2],
		keyStoreCluster: s.KeyStoreCluster,
		summary:         s,
	}
}

// withLogAllowed returns config with log_allowed on (policy.ForceLogAllowed),
// so that the filter logs one decision line for every request, allowed ones
// included: that line is where a run learns the route an allowed request
// matched.
func withLogAllowed(config []byte) []byte { return policy.ForceLogAllowed(config) }

// redactedValue replaces the value of a key query parameter in reports.
const redactedValue = "REDACTED"

// redactQuery replaces the values of the key query parameters of path that
// are not placeholders already. It reads the query as the filter does: pairs
// split on '&' and ';', and a parameter is a key's under every spelling the
// filter takes for it (policy.Summary.IsKeyParam: encoded, or with a bracket
// suffix such as "api_key[]").
func (ci configInfo) redactQuery(path string) string {
	q := strings.IndexByte(path, '?')
	if q < 0 || len(ci.queryParams) == 0 {
		return path
	}
	var b strings.Builder
	b.WriteString(path[:q+1])
	changed := false
	rest := path[q+1:]
	for {
		p, tail, more := rest, "", false
		if i := strings.IndexAny(rest, "&;"); i >= 0 {
			p, tail, more = rest[:i+1], rest[i+1:], true
		}
		sep := ""
		if more {
			p, sep = p[:len(p)-1], p[len(p)-1:]
		}
		if name, value, ok := strings.Cut(p, "="); ok && value != "" && !strings.HasPrefix(value, placeholderOpen) &&
			ci.summary.IsKeyParam(name) {
			p = p[:len(p)-len(value)] + redactedValue
			changed = true
		}
		b.WriteString(p)
		b.WriteString(sep)
		if !more {
			break
		}
		rest = tail
	}
	if !changed {
		return path
	}
	return b.String()
}
