package configcheck

import (
	"fmt"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apiguard/apiguard/internal/ratelimitconf"
	"github.com/apiguard/apiguard/policy"

	// Extensions whose typed_config may appear in a bootstrap that runs
	// apiguard. An Any of a type not linked here is reported as unknown;
	// add the package to accept it.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/health_check/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/formatter/req_without_query/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// DefaultWasmPath is where make build writes the filter module, relative
// to the repository root, and so the path envoy.yaml loads it from.
const DefaultWasmPath = "build/apiguard.wasm"

// routerFilterName is the well-known name of Envoy's router filter, used
// when a router is configured without a typed_config.
const routerFilterName = "envoy.filters.http.router"

// EnvoyOptions tunes ValidateEnvoyYAML.
type EnvoyOptions struct {
	// WasmPath is the vm_config.code.local.filename every Wasm HTTP filter
	// must load: another file is an error. Empty means "not said": a file
	// other than DefaultWasmPath is then only a warning (a note on
	// --wasm-path), since a bootstrap for another machine loads the module
	// from wherever it was installed there.
	WasmPath string
	// RateLimitDomain is the domain every global rate-limit filter
	// (envoy.filters.http.ratelimit) must use, that of apiguard
	// ratelimit-config. Empty means ratelimitconf.DefaultDomain.
	RateLimitDomain string
	// PluginConfig is the plugin configuration (JSON) an Istio
	// RequestAuthentication is checked against. In a file of several
	// documents without it, that of the file's WasmPlugin is used.
	PluginConfig []byte
	// KeySnapshot, when set, is the key snapshot that plugin configurations
	// with a key_store serve (in any kind of file): it is loaded against
	// each, and their warnings are judged against its consumers (see
	// policy.CompileWithSnapshot). Unlike the other options it applies to
	// every kind of file.
	KeySnapshot []byte
}

// ValidateEnvoyYAML checks an Envoy bootstrap (YAML or JSON) that runs
// apiguard. It reports, with the path of each:
//   - YAML errors and duplicate keys;
//   - anything protojson refuses when decoding strictly into
//     bootstrap/v3.Bootstrap: unknown fields, wrong types, bad enum values,
//     typed_config of unknown type;
//   - protoc-gen-validate violations in the Bootstrap and in every message
//     packed in an Any below it;
//   - HTTP connection managers whose last HTTP filter is not the router, or
//     with a router before other filters;
//   - routes to clusters that static_resources does not define (unless
//     clusters come from CDS), and duplicate cluster names;
//   - a missing envoy.filters.http.wasm filter; one that loads neither a
//     local file nor a remote one (code.remote), that loads a local file
//     other than opts.WasmPath (a warning when opts.WasmPath is empty and
//     the file is not DefaultWasmPath), fails open (fail_open: true or
//     failure_policy: FAIL_OPEN), or has no configuration; and every
//     problem package policy finds in its configuration, at its own line
//     when the configuration is a literal block (value: |);
//   - as warnings, a connection manager running apiguard without the path
//     hygiene apiguard relies on (pathHygiene);
//   - a global rate-limit filter (envoy.filters.http.ratelimit) before
//     apiguard, in another domain than opts.RateLimitDomain, without a v3
//     rate_limit_service on a defined cluster, whose request_headers actions
//     read headers apiguard does not set, or, when the plugin defines
//     quotas, without a rate_limits entry building apiguard's quota
//     descriptor (a warning when quotas are defined and no such filter
//     exists);
//   - access logs that name apiguard's filter state (wasm.apiguard.*) with
//     a key apiguard does not set or in a way that never reads it, and, as
//     a warning, without :PLAIN (accesslog.go).
func ValidateEnvoyYAML(data []byte, opts EnvoyOptions) []Problem {
	if opts.RateLimitDomain == "" {
		opts.RateLimitDomain = ratelimitconf.DefaultDomain
	}
	t, probs := parseTree(data)
	if len(probs) > 0 {
		return probs
	}
	if _, ok := t.root.(map[string]any); !ok {
		return []Problem{{Line: t.line(""), Msg: "expected a mapping at the top of an Envoy bootstrap"}}
	}
	var b bootstrapv3.Bootstrap
	if probs := decodeStrict(t, t.root, "", &b); len(probs) > 0 {
		return probs
	}
	probs = validateTree(t, &b, "")
	c := envoyChecker{t: t, opts: opts}
	c.check(&b)
	c.probs = append(c.probs, accessLogProblems(t, t.root, "")...) // accesslog.go
	return append(probs, c.probs...)
}

// envoyChecker holds the state of the semantic checks of one bootstrap.
type envoyChecker struct {
	t        *tree
	opts     EnvoyOptions
	probs    []Problem
	clusters map[string]bool
	cds      bool // clusters may also come from CDS
	wasm     int  // Wasm HTTP filters seen
}

func (c *envoyChecker) add(path, format string, args ...any) {
	c.probs = append(c.probs, Problem{Path: path, Line: c.t.line(path), Msg: fmt.Sprintf(format, args...)})
}

func (c *envoyChecker) check(b *bootstrapv3.Bootstrap) {
	c.clusters = map[string]bool{}
	c.cds = b.GetDynamicResources().GetCdsConfig() != nil
	for i, cl := range b.GetStaticResources().GetClusters() {
		if c.clusters[cl.GetName()] {
			c.add(fmt.Sprintf("static_resources.clusters[%d].name", i), "duplicate cluster name %q", cl.GetName())
		}
		c.clusters[cl.GetName()] = true
	}
	for i, l := range b.GetStaticResources().GetListeners() {
		lpath := fmt.Sprintf("static_resources.listeners[%d]", i)
		for j, fc := range l.GetFilterChains() {
			c.filterChain(fc, fmt.Sprintf("%s.filter_chains[%d]", lpath, j))
		}
		if fc := l.GetDefaultFilterChain(); fc != nil {
			c.filterChain(fc, lpath+".default_filter_chain")
		}
	}
	if c.wasm == 0 {
		c.add("static_resources.listeners", "no envoy.filters.http.wasm filter: apiguard is not loaded by any listener")
	}
}

func (c *envoyChecker) filterChain(fc *listenerv3.FilterChain, path string) {
	for k, f := range fc.GetFilters() {
		tc := f.GetTypedConfig()
		if tc == nil || !tc.MessageIs((*hcmv3.HttpConnectionManager)(nil)) {
			continue
		}
		var hcm hcmv3.HttpConnectionManager
		if err := tc.UnmarshalTo(&hcm); err != nil {
			continue // reported by validateTree
		}
		c.hcm(&hcm, fmt.Sprintf("%s.filters[%d].typed_config", path, k))
	}
}

func isRouter(f *hcmv3.HttpFilter) bool {
	if tc := f.GetTypedConfig(); tc != nil {
		return tc.GetTypeUrl() == "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
	}
	return f.GetName() == routerFilterName
}

func (c *envoyChecker) hcm(hcm *hcmv3.HttpConnectionManager, path string) {
	filters := hcm.GetHttpFilters()
	if len(filters) == 0 {
		c.add(path+".http_filters", "no HTTP filters: the router (%s) must be the last one", routerFilterName)
	}
	routers := 0
	wasmBefore := c.wasm
	for i, f := range filters {
		fpath := fmt.Sprintf("%s.http_filters[%d]", path, i)
		if isRouter(f) {
			routers++
			if i != len(filters)-1 {
				c.add(fpath, "the router (%s) must be the last HTTP filter, but %d filter(s) follow it", routerFilterName, len(filters)-1-i)
			}
			continue
		}
		if i == len(filters)-1 {
			c.add(fpath, "the last HTTP filter is %q; it must be the router (%s)", f.GetName(), routerFilterName)
		}
		if tc := f.GetTypedConfig(); tc != nil && tc.MessageIs((*wasmfilterv3.Wasm)(nil)) {
			var w wasmfilterv3.Wasm
			if err := tc.UnmarshalTo(&w); err == nil {
				c.wasmFilter(&w, fpath+".typed_config")
			}
		}
	}
	if c.wasm > wasmBefore {
		c.pathHygiene(hcm, path)
	}
	if len(filters) > 0 && routers == 0 {
		c.add(path+".http_filters", "no router filter (%s): requests would never reach a cluster", routerFilterName)
	}
	if rc := hcm.GetRouteConfig(); rc != nil {
		c.routes(rc, path+".route_config")
	}
	if hcm.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction() == corev3.HttpProtocolOptions_ALLOW {
		c.warn(path+".common_http_protocol_options", "headers_with_underscores_action is ALLOW (the default): "+
			"back ends that map '_' and '-' to one name (CGI, WSGI, Rack, PHP) read x_apiguard_consumer as "+
			"X-Apiguard-Consumer; set it to REJECT_REQUEST (apiguard removes such spellings of its own headers, "+
			"but not of headers other filters trust)")
	}
	c.rateLimits(hcm, path)
}

// warn records a warning: a bootstrap that works but leaves a gap.
func (c *envoyChecker) warn(path, format string, args ...any) {
	c.probs = append(c.probs, Problem{Path: path, Line: c.t.line(path), Msg: fmt.Sprintf(format, args...), Warning: true})
}

func (c *envoyChecker) routes(rc *routev3.RouteConfiguration, path string) {
	if c.cds {
		return
	}
	for v, vh := range rc.GetVirtualHosts() {
		for r, rt := range vh.GetRoutes() {
			rpath := fmt.Sprintf("%s.virtual_hosts[%d].routes[%d].route", path, v, r)
			ra := rt.GetRoute()
			if ra == nil {
				continue
			}
			if name := ra.GetCluster(); name != "" && !c.clusters[name] {
				c.add(rpath+".cluster", "route to cluster %q, which static_resources.clusters does not define", name)
			}
			for w, wc := range ra.GetWeightedClusters().GetClusters() {
				if !c.clusters[wc.GetName()] {
					c.add(fmt.Sprintf("%s.weighted_clusters.clusters[%d].name", rpath, w),
						"route to cluster %q, which static_resources.clusters does not define", wc.GetName())
				}
			}
		}
	}
}

func (c *envoyChecker) wasmFilter(w *wasmfilterv3.Wasm, path string) {
	c.wasm++
	cfg := w.GetConfig()
	if cfg == nil {
		c.add(path, "missing config: the Wasm filter needs config.vm_config and config.configuration")
		return
	}
	cpath := path + ".config"
	code := cfg.GetVmConfig().GetCode()
	switch {
	case cfg.GetVmConfig() == nil:
		c.add(cpath, "missing vm_config")
	case code.GetRemote() != nil:
		// Envoy fetches it (code.remote.http_uri) and checks its sha256,
		// which Envoy's API requires; there is no local file to compare.
	case code.GetLocal().GetFilename() == "":
		c.add(cpath+".vm_config.code", "the module must be loaded from a local file (code.local.filename, %q) or fetched (code.remote)", c.wasmPath())
	case c.opts.WasmPath != "" && code.GetLocal().GetFilename() != c.opts.WasmPath:
		c.add(cpath+".vm_config.code.local.filename", "loads %q, but --wasm-path says the module is %q",
			code.GetLocal().GetFilename(), c.opts.WasmPath)
	case c.opts.WasmPath == "" && code.GetLocal().GetFilename() != DefaultWasmPath:
		fpath := cpath + ".vm_config.code.local.filename"
		c.probs = append(c.probs, Problem{Path: fpath, Line: c.t.line(fpath), Warning: true,
			Msg: fmt.Sprintf("loads %q, not %q where make build writes the module; if that is where the module is installed, "+
				"say so with --wasm-path %s", code.GetLocal().GetFilename(), DefaultWasmPath, code.GetLocal().GetFilename())})
	}
	//lint:ignore SA1019 fail_open is deprecated, which is why it must stay false.
	if cfg.GetFailOpen() {
		c.add(cpath+".fail_open", "fail_open: true lets requests through unchecked when the plugin fails; "+
			"remove it (it is deprecated) and set failure_policy: FAIL_RELOAD (or FAIL_CLOSED)")
	}
	if cfg.GetFailurePolicy() == wasmv3.FailurePolicy_FAIL_OPEN {
		c.add(cpath+".failure_policy", "FAIL_OPEN lets requests through unchecked when the plugin fails; apiguard must fail closed (FAIL_RELOAD or FAIL_CLOSED)")
	}
	conf := cfg.GetConfiguration()
	if conf == nil {
		c.add(cpath, "missing configuration: apiguard refuses to start without one")
		return
	}
	text, vpath, err := configurationText(conf)
	if err != nil {
		c.add(cpath+".configuration", "%v", err)
		return
	}
	vpath = joinPath(cpath+".configuration", vpath)
	lineOf := c.embeddedLines(vpath, text)
	for _, p := range pluginProblems([]byte(text), c.opts.KeySnapshot) {
		c.probs = append(c.probs, Problem{Path: joinPath(vpath, p.Path), Line: lineOf(p.Path), Msg: p.Msg, Warning: p.Warning})
	}
	// A key store's cluster must exist, or every fetch fails (BadArgument)
	// and every request that needs a key gets 503.
	if pol, err := policy.Compile([]byte(text)); err == nil && pol.KeyStore() != nil && !c.cds {
		if name := pol.KeyStore().Cluster; !c.clusters[name] {
			c.add(joinPath(vpath, "key_store.cluster"), "key store cluster %q, which static_resources.clusters does not define", name)
		}
	}
}

// wasmPath is the module file the bootstrap should load.
func (c *envoyChecker) wasmPath() string {
	if c.opts.WasmPath != "" {
		return c.opts.WasmPath
	}
	return DefaultWasmPath
}

// embeddedLines returns, for a path inside the plugin configuration text
// found at vpath, its line in the file. Inside a literal block scalar
// (value: |) the text's own lines map one to one onto the file's, from the
// line after the key; otherwise every problem gets the line of vpath.
func (c *envoyChecker) embeddedLines(vpath, text string) func(string) int {
	keyLine := c.t.line(vpath)
	first, ok := c.t.blocks[vpath]
	if !ok {
		return func(string) int { return keyLine }
	}
	inner, _ := parseTree([]byte(text))
	return func(rel string) int {
		if inner == nil {
			return keyLine
		}
		if l := inner.line(rel); l > 0 {
			return first + l - 1
		}
		return keyLine
	}
}

// configurationText returns the text Envoy hands the plugin for a
// configuration Any (StringValue and BytesValue as is, Struct as JSON) and
// the path of that value inside the Any.
func configurationText(a *anypb.Any) (text, path string, err error) {
	m, err := a.UnmarshalNew()
	if err != nil {
		return "", "", fmt.Errorf("cannot unpack: %s", cleanProtoErr(err))
	}
	switch m := m.(type) {
	case *wrapperspb.StringValue:
		return m.GetValue(), "value", nil
	case *wrapperspb.BytesValue:
		return string(m.GetValue()), "value", nil
	case *structpb.Struct:
		b, err := protojson.Marshal(m)
		return string(b), "", err
	}
	return "", "", fmt.Errorf("configuration of type %s: expected google.protobuf.StringValue holding the JSON configuration", a.GetTypeUrl())
}

// DecodeEnvoyYAML decodes an Envoy bootstrap (YAML or JSON) strictly into
// Envoy's API type, as ValidateEnvoyYAML does before its other checks, for
// code that reads what Envoy would read (such as the rate_limits actions).
func DecodeEnvoyYAML(data []byte) (*bootstrapv3.Bootstrap, []Problem) {
	t, probs := parseTree(data)
	if len(probs) > 0 {
		return nil, probs
	}
	var b bootstrapv3.Bootstrap
	if probs := decodeStrict(t, t.root, "", &b); len(probs) > 0 {
		return nil, probs
	}
	return &b, nil
}
