package configcheck

import (
	"time"

	"github.com/apiguard/apiguard/policy"
)

// keyPolicyProblems reports, for a configuration with key_policy, the
// snapshot's keys that break max_lifetime (errors: apiguard keys build
// --config refuses them) and every key that expires within
// expiry_warning of now (warnings, soonest first).
func keyPolicyProblems(p *policy.Policy, now time.Time) []Problem {
	kp := p.KeyPolicy()
	if kp == nil {
		return nil
	}
	var probs []Problem
	for _, v := range p.KeyPolicyViolations() {
		probs = append(probs, Problem{Path: "key_policy.max_lifetime", Msg: "the key snapshot's " + v.String()})
	}
	for _, k := range p.ExpiringKeys(now) {
		probs = append(probs, Problem{Path: "key_policy.expiry_warning", Warning: true,
			Msg: "key " + k.KeyID + " of consumer " + k.Consumer + " expires at " + k.NotAfter.Format(time.RFC3339) +
				", within " + policy.FormatLongDuration(kp.ExpiryWarning) + ": issue its successor (apiguard keygen --config)"})
	}
	return probs
}
