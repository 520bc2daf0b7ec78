package replay

import (
	"net/url"
	"strings"

	"github.com/tidwall/gjson"
)

// configInfo is what a run needs to know about the configuration besides
// what the filter reports: which query parameters carry keys (to keep them
// out of reports) and which headers carry the identity upstream.
type configInfo struct {
	shadow         bool
	queryParams    []string
	consumerHeader string
	keyIDHeader    string
	scopesHeader   string
	// keyStoreCluster is key_store.cluster, "" without a key store.
	keyStoreCluster string
}

// readConfigInfo reads configInfo from a plugin configuration, with the
// filter's defaults for what it leaves out. It does not validate anything:
// the filter does that when it starts.
func readConfigInfo(config []byte) configInfo {
	root := gjson.ParseBytes(config)
	ci := configInfo{
		shadow:         root.Get("mode").String() == "shadow",
		consumerHeader: "x-apiguard-consumer",
		keyIDHeader:    "x-apiguard-key-id",
		scopesHeader:   "x-apiguard-scopes",
	}
	if c := root.Get("key_store.cluster"); c.Type == gjson.String {
		ci.keyStoreCluster = c.String()
	}
	for _, q := range root.Get("key_sources.#.query").Array() {
		ci.queryParams = append(ci.queryParams, q.String())
	}
	if h := root.Get("forward.consumer_header"); h.Type == gjson.String {
		ci.consumerHeader = strings.ToLower(h.String())
	}
	if h := root.Get("forward.key_id_header"); h.Type == gjson.String {
		ci.keyIDHeader = strings.ToLower(h.String())
	}
	if h := root.Get("forward.scopes_header"); h.Type == gjson.String {
		ci.scopesHeader = strings.ToLower(h.String())
	}
	return ci
}

// withLogAllowed returns config with "log_allowed" set to true, so that the
// filter logs one decision line for every request, allowed ones included:
// that line is where a run learns the route an allowed request matched. It
// changes nothing else the filter does. A configuration that is not a JSON
// object is returned unchanged, for the filter to refuse.
func withLogAllowed(config []byte) []byte {
	if !gjson.ValidBytes(config) {
		return config
	}
	root := gjson.ParseBytes(config)
	if !root.IsObject() {
		return config
	}
	v := root.Get("log_allowed")
	if v.Exists() && v.Index > 0 {
		if v.Type == gjson.True {
			return config
		}
		out := make([]byte, 0, len(config)+4)
		out = append(out, config[:v.Index]...)
		out = append(out, "true"...)
		return append(out, config[v.Index+len(v.Raw):]...)
	}
	open := strings.IndexByte(string(config), '{')
	member := `"log_allowed":true`
	if len(root.Map()) > 0 {
		member += ","
	}
	out := make([]byte, 0, len(config)+len(member))
	out = append(out, config[:open+1]...)
	out = append(out, member...)
	return append(out, config[open+1:]...)
}

// redactedValue replaces the value of a key query parameter in reports.
const redactedValue = "REDACTED"

// redactQuery replaces the values of the key query parameters of path that
// are not placeholders already. It reads the query as the filter does: pairs
// split on '&' and ';', and a name followed by a bracket suffix ("api_key[]")
// is the parameter too.
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
		if name, value, ok := strings.Cut(p, "="); ok && value != "" && !strings.HasPrefix(value, placeholderOpen) {
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
			for _, qp := range ci.queryParams {
				if name == qp || strings.HasPrefix(name, qp+"[") {
					p = p[:len(p)-len(value)] + redactedValue
					changed = true
					break
				}
			}
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
