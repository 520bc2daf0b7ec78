package policy

import "time"

// CompileWithSnapshot compiles a configuration that has a key_store, as
// CompileAt does, loads the key snapshot against it as the filter would
// (LoadSnapshot), and judges the configuration's warnings against the
// snapshot's consumers instead of none: a rate-limit policy or quota that
// only the snapshot's consumers name is used, and a route scope that no
// consumer of the snapshot is granted is reported (Compile cannot check
// scopes without the consumers). It returns the policy with the snapshot
// loaded, whose Warnings are those judged warnings.
//
// An invalid configuration is a *ConfigError, as from Compile, and so is a
// configuration without a key_store (its keys are inline: there is
// nothing to load the snapshot into); a snapshot the filter would reject
// is a *LoadError.
func CompileWithSnapshot(config, snapshot []byte, now time.Time) (*Policy, error) {
	p, err := CompileAt(config, now)
	if err != nil {
		return nil, err
	}
	if p.keyStore == nil {
		return nil, &ConfigError{Errors: []FieldError{fieldError(jsonPath{}.member("key_store"),
			"is missing: a key snapshot was given, but the configuration's keys are inline (consumers)")}}
	}
	loaded, err := p.LoadSnapshot(snapshot)
	if err != nil {
		return nil, err
	}
	// Compile is deterministic: the same configuration gives the same
	// indexes of rate-limit policies and quotas, which the snapshot's
	// consumers refer to.
	judged, err := compile(config, parser{now: unixNano(now), snapConsumers: loaded.consumers, snapSets: loaded.scopeSets})
	if err != nil {
		return nil, err
	}
	loaded.warnings = judged.warnings
	return loaded, nil
}
