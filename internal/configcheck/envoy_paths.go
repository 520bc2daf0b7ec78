package configcheck

import (
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// pathHygiene warns when a connection manager that runs apiguard leaves out
// the path settings docs/configuration.md relies on (and envoy.yaml sets): apiguard
// matches routes on a normalised path, and Envoy must route on the same
// spelling, or a route can be reached under a second one.
func (c *envoyChecker) pathHygiene(hcm *hcmv3.HttpConnectionManager, path string) {
	warn := func(field, msg string) {
		fpath := path + "." + field
		c.probs = append(c.probs, Problem{Path: fpath, Line: c.t.line(fpath), Msg: msg, Warning: true})
	}
	if !hcm.GetNormalizePath().GetValue() {
		warn("normalize_path", "normalize_path is not true: Envoy routes on the path as sent (with . and .. segments), "+
			"while apiguard matches it normalised; set normalize_path: true as in envoy.yaml")
	}
	if !hcm.GetMergeSlashes() {
		warn("merge_slashes", "merge_slashes is not true: Envoy routes /a//b and /a/b differently, apiguard does not; "+
			"set merge_slashes: true as in envoy.yaml")
	}
	if hcm.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		warn("path_with_escaped_slashes_action", "path_with_escaped_slashes_action is not REJECT_REQUEST: "+
			"paths with %2F or %5C reach the filter (which answers 400 bad_path) instead of being refused by Envoy; "+
			"set path_with_escaped_slashes_action: REJECT_REQUEST as in envoy.yaml")
	}
}
