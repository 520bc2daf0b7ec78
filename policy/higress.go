package policy

import (
	"strconv"

	"github.com/tidwall/gjson"
)

// HigressRulesField is the top-level field Higress adds to a plugin's
// configuration when its WasmPlugin (extensions.higress.io/v1alpha1) has
// matchRules: a list of each rule's config with _match_route_,
// _match_domain_ or _match_service_ added (alibaba/higress
// pkg/ingress/config/ingress_config.go, convertIstioWasmPlugin, at
// 4e0d69143208d713e88880d5af1c86f4386e425c).
const HigressRulesField = "_rules_"

// parseHigressRules accepts Higress's _rules_ without refusing the
// configuration, whatever it holds, and warns that the rules are not
// honoured: apiguard has no per-route configuration; its top-level
// configuration (Higress's defaultConfig) applies on every route and domain
// the plugin runs on, and the rules' configurations are ignored. Routes are
// told apart by apiguard's own routes instead.
func (ps *parser) parseHigressRules(path jsonPath, v gjson.Result) {
	n := "some"
	if v.IsArray() {
		n = strconv.Itoa(len(v.Array()))
	}
	ps.warn(path, "Higress matchRules ("+n+" rule(s)) are not honoured: apiguard applies its top-level configuration "+
		"(the WasmPlugin's defaultConfig) on every route and domain it runs on and ignores each rule's config; "+
		"use apiguard's routes to treat paths differently, or one WasmPlugin per configuration")
}
