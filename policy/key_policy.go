// Key rotation policy: everything about key_policy lives in this file, from
// reading the section to checking inline keys against it and counting the
// keys that expire soon.

package policy

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/apiguard/apiguard/policy/keysnap"
)

// Bounds of key_policy's durations.
const (
	minKeyLifetime = time.Hour
	maxKeyLifetime = 10 * 365 * 24 * time.Hour
)

// KeyPolicy is the compiled key_policy section: how long a key may be
// valid, and how long before its end it counts as expiring.
type KeyPolicy struct {
	// MaxLifetime bounds not_after - not_before of every key; 0 for no bound.
	MaxLifetime time.Duration
	// ExpiryWarning is the window before not_after in which a key counts
	// as expiring (the apiguard.keys.expiring gauge, apiguard validate).
	ExpiryWarning time.Duration
}

// KeyPolicy returns the key_policy section, nil when there is none.
func (p *Policy) KeyPolicy() *KeyPolicy { return p.keyPolicy }

// ParseLongDuration parses a duration of key_policy: a Go duration
// ("2160h") or a whole number of days ("90d").
func ParseLongDuration(s string) (time.Duration, bool) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 32)
		if err != nil || n < 0 || days == "" || days[0] == '+' || days[0] == '-' {
			return 0, false
		}
		return time.Duration(n) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

// keyPolicyParse is key_policy being read.
type keyPolicyParse struct {
	kp       KeyPolicy
	hasMax   bool
	warnPath jsonPath
}

// keyPolicyFields are key_policy's.
var keyPolicyFields = schema[keyPolicyParse]{docPath: "key_policy.", docPage: "configuration.md", fields: []field[keyPolicyParse]{
	{name: "max_lifetime", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyPolicyParse) bool {
		k.hasMax = true
		readLongDuration(&k.kp.MaxLifetime, ps, p, v)
		return true
	}, doc: "the longest validity window a key may have"},
	{name: "expiry_warning", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyPolicyParse) bool {
		k.warnPath = p
		readLongDuration(&k.kp.ExpiryWarning, ps, p, v)
		return true
	}, def: `"14d"`, doc: "how long before its end a key counts as expiring"},
}}

// readLongDuration reads a duration of key_policy into dst.
func readLongDuration(dst *time.Duration, ps *parser, p jsonPath, v gjson.Result) {
	s, ok := ps.str(p, v)
	if !ok {
		return
	}
	d, ok := ParseLongDuration(s)
	if !ok || d < minKeyLifetime || d > maxKeyLifetime {
		ps.add(p, "must be a duration between 1h and 3650d such as \"90d\" or \"720h\", got "+quote(s))
		return
	}
	*dst = d
}

// parseKeyPolicy reads key_policy.
func (ps *parser) parseKeyPolicy(path jsonPath, v gjson.Result) *KeyPolicy {
	var k keyPolicyParse
	if !readObject(ps, &keyPolicyFields, path, v, &k) {
		return nil
	}
	if !k.hasMax && k.warnPath.isZero() {
		ps.add(path, "must set max_lifetime, expiry_warning or both")
	}
	if k.kp.MaxLifetime > 0 && !k.warnPath.isZero() && k.kp.ExpiryWarning >= k.kp.MaxLifetime {
		ps.add(k.warnPath, "must be shorter than max_lifetime")
	}
	return &k.kp
}

// CheckWindow checks one key's validity window (Unix nanoseconds, 0 for
// absent) against the policy and returns the problem, "" when it complies.
func (kp *KeyPolicy) CheckWindow(notBefore, notAfter int64, hasNotBefore, hasNotAfter bool) string {
	if kp == nil || kp.MaxLifetime == 0 {
		return ""
	}
	switch {
	case !hasNotAfter:
		return "has no not_after: key_policy.max_lifetime (" + FormatLongDuration(kp.MaxLifetime) + ") requires every key to expire"
	case !hasNotBefore:
		return "has no not_before: key_policy.max_lifetime (" + FormatLongDuration(kp.MaxLifetime) + ") bounds not_after - not_before, so both are required"
	case notAfter-notBefore > int64(kp.MaxLifetime):
		return "is valid for " + FormatLongDuration(time.Duration(notAfter-notBefore)) + ", longer than key_policy.max_lifetime (" +
			FormatLongDuration(kp.MaxLifetime) + ")"
	}
	return ""
}

// FormatLongDuration formats d in days when it is a whole number of days.
func FormatLongDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// checkKeyPolicy reports every inline key that breaks key_policy, at its
// path (the snapshot's keys are checked by apiguard keys build).
func (ps *parser) checkKeyPolicy(c *config) {
	if c.keyPolicy == nil {
		return
	}
	for ci := range c.consumers {
		for ki := range c.consumers[ci].keys {
			k := &c.consumers[ci].keys[ki]
			if k.revoked {
				continue // a revoked key authenticates nothing, whatever its window
			}
			ref := keyRef{consumer: int32(ci), key: int32(ki)}
			msg := c.keyPolicy.CheckWindow(k.notBefore, k.notAfter, k.notBefore != noLowerBound, k.notAfter != noUpperBound)
			if msg != "" {
				ps.add(ref.path(c), msg)
			}
		}
	}
}

// ExpiringKey is a key that expires within key_policy.expiry_warning.
type ExpiringKey struct {
	Consumer, KeyID string
	NotAfter        time.Time
}

// eachKey calls fn for every key of the policy, inline or from the loaded
// snapshot, with the key's consumer index and id.
func (p *Policy) eachKey(fn func(e *keyEntry, id string)) {
	if p.snap != nil {
		s := p.snap
		var start uint32
		for m := 0; m < s.keys; m++ {
			if m%idGroup == 0 {
				start = s.idBase[m/idGroup]
			}
			_, cons, flags, idLen, window := keysnap.Record(s.record(m), 0)
			e := keyEntry{notBefore: noLowerBound, notAfter: noUpperBound, idStart: start, idEnd: start + uint32(idLen),
				consumer: int32(cons), revoked: flags&keysnap.FlagRevoked != 0}
			if window != 0 {
				e.notBefore, e.notAfter = s.window(int(window - 1))
			}
			start += uint32(idLen)
			fn(&e, p.keyID(&e))
		}
		return
	}
	for i := range p.entries {
		fn(&p.entries[i], p.keyID(&p.entries[i]))
	}
}

// CountExpiring returns how many keys that are not revoked are valid at
// now and stop being valid within key_policy.expiry_warning of it (0
// without key_policy). It reads every key: call it off the request path.
func (p *Policy) CountExpiring(now time.Time) int {
	if p.keyPolicy == nil {
		return 0
	}
	n := 0
	t, end := unixNano(now), unixNano(now.Add(p.keyPolicy.ExpiryWarning))
	p.eachKey(func(e *keyEntry, _ string) {
		if !e.revoked && e.notAfter > t && e.notAfter <= end {
			n++
		}
	})
	return n
}

// ExpiringKeys lists the keys CountExpiring counts, soonest first.
func (p *Policy) ExpiringKeys(now time.Time) []ExpiringKey {
	if p.keyPolicy == nil {
		return nil
	}
	var out []ExpiringKey
	t, end := unixNano(now), unixNano(now.Add(p.keyPolicy.ExpiryWarning))
	p.eachKey(func(e *keyEntry, id string) {
		if !e.revoked && e.notAfter > t && e.notAfter <= end {
			out = append(out, ExpiringKey{Consumer: p.consumerID(&p.consumers[e.consumer]), KeyID: id, NotAfter: time.Unix(0, e.notAfter).UTC()})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].NotAfter.Before(out[j].NotAfter) })
	return out
}

// KeyViolation is a key that breaks key_policy.max_lifetime.
type KeyViolation struct {
	Consumer, KeyID, Problem string
}

func (v KeyViolation) String() string {
	return "key " + v.KeyID + " of consumer " + v.Consumer + " " + v.Problem
}

// KeyPolicyViolations lists the keys that are not revoked and break
// key_policy.max_lifetime, in key order: none for inline keys (Compile
// refuses them), and the snapshot's keys when one is loaded (apiguard keys
// build --config refuses them before signing).
func (p *Policy) KeyPolicyViolations() []KeyViolation {
	if p.keyPolicy == nil || p.keyPolicy.MaxLifetime == 0 {
		return nil
	}
	var out []KeyViolation
	p.eachKey(func(e *keyEntry, id string) {
		if e.revoked {
			return
		}
		if msg := p.keyPolicy.CheckWindow(e.notBefore, e.notAfter, e.notBefore != noLowerBound, e.notAfter != noUpperBound); msg != "" {
			out = append(out, KeyViolation{Consumer: p.consumerID(&p.consumers[e.consumer]), KeyID: id, Problem: msg})
		}
	})
	return out
}
