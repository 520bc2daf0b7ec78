package configcheck

// crossCheckEnvoyGateway checks the BackendTrafficPolicies of a file
// against the configuration of the EnvoyExtensionPolicy in the same file
// (the first whose apiguard configuration compiles), replacing their
// problems with those of EnvoyGatewayRateLimitProblems: each quota has its
// rule, with its limit.
func crossCheckEnvoyGateway(docs []rawDoc, out []Document) {
	var config []byte
	for i, d := range out {
		if d.Kind == KindEnvoyExtensionPolicy && len(Errors(d.Problems)) == 0 {
			if config = egPluginConfig(docs[i].text); config != nil {
				break
			}
		}
	}
	if config == nil {
		return
	}
	for i := range out {
		if out[i].Kind != KindBackendTrafficPolicy {
			continue
		}
		out[i].Problems = nil
		for _, p := range EnvoyGatewayRateLimitProblems(docs[i].text, config) {
			if p.Line > 0 {
				p.Line += docs[i].line - 1
			}
			out[i].Problems = append(out[i].Problems, p)
		}
	}
}
