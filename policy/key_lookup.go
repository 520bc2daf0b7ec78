package policy

import "time"

// KeyPrefix returns key_format.prefix, "" when the configuration has no
// key_format.
func (p *Policy) KeyPrefix() string {
	if p.format == nil {
		return ""
	}
	return p.format.prefix
}

// LookupKey finds a raw key as the filter would at now: the consumer and
// key id it belongs to, and the reason the filter would give (ReasonAllowed
// for a key that authenticates now; ReasonUnknown, ReasonRevoked,
// ReasonExpired, ReasonNotYetValid or ReasonMalformed otherwise). For
// apiguard scan: a found key is never logged here.
func (p *Policy) LookupKey(key string, now time.Time) (consumer, keyID string, r Reason) {
	var found keyEntry
	e, r, _ := p.lookup(key, now, &found)
	if e == nil {
		return "", "", r
	}
	return p.consumerID(&p.consumers[e.consumer]), p.keyID(e), r
}
