package policy

import (
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/apiguard/apiguard/policy/keysnap"
)

// ParseConsumers reads a consumers document, {"consumers": [...]}, whose
// array has exactly the schema of the configuration's consumers section,
// and returns its consumers and keys for a key snapshot. It validates them
// with the code Compile uses (the same messages and JSON paths, such as
// consumers[3].keys[0].sha256), and checks duplicate consumer ids, key ids
// and key hashes as Compile does. Rate-limit policy names are checked when
// a snapshot is loaded against a configuration (Policy.LoadSnapshot).
func ParseConsumers(doc []byte) ([]keysnap.Consumer, []keysnap.Key, error) {
	ps := &parser{}
	if !ps.checkDocument(doc) {
		return nil, nil, &ConfigError{Errors: ps.errs}
	}
	root := gjson.Parse(unsafe.String(unsafe.SliceData(doc), len(doc)))
	c := &config{}
	found := false
	ps.object(jsonPath{}, root, "consumers", func(name string, p jsonPath, v gjson.Result) bool {
		if name != "consumers" {
			return false
		}
		found = true
		ps.array(p, v, func(i int, p jsonPath, v gjson.Result) {
			c.consumers = append(c.consumers, ps.parseConsumer(p, v))
		})
		return true
	})
	if !found && root.IsObject() {
		ps.add(jsonPath{}.member("consumers"), "is required")
	}
	consumerIDs := newConsumerIDs(c)
	nKeys := 0
	for _, cc := range c.consumers {
		nKeys += len(cc.keys)
	}
	keyIDs := newKeyIDs(nKeys)
	sums, sumRefs := newSumIndex(nKeys), make([]keyRef, 0, nKeys)
	var cons []keysnap.Consumer
	var keys []keysnap.Key
	for ci := range c.consumers {
		cc := &c.consumers[ci]
		ps.uniqueConsumerID(&consumerIDs, c, ci)
		for ki := range cc.keys {
			kc := &cc.keys[ki]
			ref := keyRef{int32(ci), int32(ki)}
			ps.uniqueKeyID(keyIDs, c, ref, kc)
			if kc.sumOK {
				if prev, added := sums.add(&kc.sum); !added {
					ps.add(ref.path(c).member("sha256"), "duplicate key hash (also "+sumRefs[prev].path(c).String()+")")
				} else {
					sumRefs = append(sumRefs, ref)
				}
			}
			keys = append(keys, keysnap.Key{Digest: kc.sum, Consumer: ci, ID: kc.id, Revoked: kc.revoked,
				NotBefore: kc.notBefore, NotAfter: kc.notAfter})
		}
		ps.warnNoKeys(cc)
		cons = append(cons, keysnap.Consumer{ID: cc.id, Scopes: cc.scopes, RateLimit: cc.rateLimit, Quota: cc.quota})
	}
	if len(ps.errs) > 0 {
		return nil, nil, &ConfigError{Errors: ps.errs}
	}
	return cons, keys, nil
}
