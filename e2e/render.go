package e2e

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// wasmFilterType is the typed_config type of Envoy's Wasm HTTP filter.
const wasmFilterType = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"

// RenderOptions says what Render changes in envoy.yaml.
type RenderOptions struct {
	// ListenerPort and AdminPort replace the listener's and the admin
	// interface's ports; 0 lets the kernel choose (read the ports back
	// from the admin interface).
	ListenerPort, AdminPort int
	// UpstreamPort replaces the port of every endpoint of the cluster named
	// UpstreamCluster ("upstream" when empty).
	UpstreamPort    int
	UpstreamCluster string
	// WasmPath replaces vm_config.code.local.filename of every Wasm HTTP
	// filter; empty keeps it.
	WasmPath string
	// PluginConfig, when not nil, replaces the configuration string of
	// every Wasm HTTP filter.
	PluginConfig []byte
	// KeyStoreCluster, when set, adds a static cluster of that name with
	// one endpoint, 127.0.0.1:KeyStorePort: the key store a key_store
	// configuration fetches its snapshots from.
	KeyStoreCluster string
	KeyStorePort    int
}

// Render rewrites an Envoy bootstrap (envoy.yaml) as opts says and returns
// it as YAML. The bootstrap must have exactly one listener, an admin
// address, the upstream cluster and at least one Wasm HTTP filter; a
// missing one is an error, so that a change to envoy.yaml cannot leave a
// test silently talking to the wrong port.
func Render(bootstrap []byte, opts RenderOptions) ([]byte, error) {
	if opts.UpstreamCluster == "" {
		opts.UpstreamCluster = "upstream"
	}
	var root map[string]any
	if err := yaml.Unmarshal(bootstrap, &root); err != nil {
		return nil, err
	}
	if err := setPort(root, opts.AdminPort, "admin", "address", "socket_address"); err != nil {
		return nil, err
	}
	listeners, _ := dig(root, "static_resources", "listeners").([]any)
	if len(listeners) != 1 {
		return nil, fmt.Errorf("static_resources.listeners: have %d listeners, want exactly 1", len(listeners))
	}
	if err := setPort(listeners[0], opts.ListenerPort, "address", "socket_address"); err != nil {
		return nil, fmt.Errorf("static_resources.listeners[0].%w", err)
	}
	endpoints := 0
	clusters, _ := dig(root, "static_resources", "clusters").([]any)
	for _, c := range clusters {
		if dig(c, "name") != opts.UpstreamCluster {
			continue
		}
		eps, _ := dig(c, "load_assignment", "endpoints").([]any)
		for _, ep := range eps {
			lbs, _ := dig(ep, "lb_endpoints").([]any)
			for _, lb := range lbs {
				if err := setPort(lb, opts.UpstreamPort, "endpoint", "address", "socket_address"); err != nil {
					return nil, fmt.Errorf("cluster %s: %w", opts.UpstreamCluster, err)
				}
				endpoints++
			}
		}
	}
	if endpoints == 0 {
		return nil, fmt.Errorf("static_resources.clusters: no endpoint of cluster %q", opts.UpstreamCluster)
	}
	if opts.KeyStoreCluster != "" {
		sr, _ := dig(root, "static_resources").(map[string]any)
		sr["clusters"] = append(clusters, map[string]any{
			"name": opts.KeyStoreCluster, "type": "STATIC", "connect_timeout": "1s",
			"load_assignment": map[string]any{"cluster_name": opts.KeyStoreCluster, "endpoints": []any{map[string]any{
				"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{"address": map[string]any{
					"socket_address": map[string]any{"address": "127.0.0.1", "port_value": opts.KeyStorePort}}}}}}}},
		})
	}
	filters := 0
	var err error
	walk(root, func(m map[string]any) {
		if m["@type"] != wasmFilterType || err != nil {
			return
		}
		filters++
		if opts.WasmPath != "" {
			local, ok := dig(m, "config", "vm_config", "code", "local").(map[string]any)
			if !ok {
				err = errors.New("the Wasm filter has no config.vm_config.code.local")
				return
			}
			local["filename"] = opts.WasmPath
		}
		if opts.PluginConfig != nil {
			conf, ok := dig(m, "config", "configuration").(map[string]any)
			if !ok {
				err = errors.New("the Wasm filter has no config.configuration")
				return
			}
			conf["value"] = string(opts.PluginConfig)
		}
	})
	if err != nil {
		return nil, err
	}
	if filters == 0 {
		return nil, errors.New("no Wasm HTTP filter (" + wasmFilterType + ")")
	}
	return yaml.Marshal(root)
}

// dig follows mapping keys from v and returns the value, or nil.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// setPort sets port_value in the socket_address found at keys below v.
func setPort(v any, port int, keys ...string) error {
	sa, ok := dig(v, keys...).(map[string]any)
	if !ok {
		return fmt.Errorf("%v: no socket_address", keys)
	}
	if _, ok := sa["port_value"]; !ok {
		return fmt.Errorf("%v: no port_value", keys)
	}
	sa["port_value"] = port
	return nil
}

// walk calls fn for every mapping in v, depth first.
func walk(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v)
		for _, c := range v {
			walk(c, fn)
		}
	case []any:
		for _, c := range v {
			walk(c, fn)
		}
	}
}
