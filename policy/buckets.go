package policy

// BucketKeys calls yield with the shared-data key of every token bucket a
// decision can name, until yield returns false: for each consumer, the
// buckets of the policies its requests can fall under (route policies of
// non-public routes, its own, or the default), and every anonymous slot of
// the policies of public routes.
//
// proxy-wasm shared data has no create-if-absent, so the filter creates the
// buckets at plugin start rather than on first use, where two workers could
// each create the same bucket and admit one request too many.
func (p *Policy) BucketKeys(yield func(key string) bool) {
	routeLimit := make([]bool, len(p.limits))
	p.eachRoute(func(r *route) {
		if !r.public && r.limit >= 0 {
			routeLimit[r.limit] = true
		}
	})
	for i := range p.consumers {
		c := &p.consumers[i]
		own := int(c.limit)
		if own < 0 {
			own = p.defaultLimit
		}
		for li := range p.limits {
			if (routeLimit[li] || li == own) && !yield(p.bucketKey(c, li)) {
				return
			}
		}
	}
	for _, keys := range p.anonKeys {
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
}

// SharesConsumers reports whether p and other use the same compiled
// consumers (a snapshot that repeated its predecessor's consumers): their
// buckets are the same.
func (p *Policy) SharesConsumers(other *Policy) bool {
	return other != nil && len(p.consumers) > 0 && len(other.consumers) == len(p.consumers) && &p.consumers[0] == &other.consumers[0]
}
