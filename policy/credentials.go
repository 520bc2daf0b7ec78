// Credentials: finding the key a request presents (its key sources, every
// spelling of their names) and looking it up, the authentication step of
// Decide.

package policy

import (
	"time"
	"unsafe"

	"github.com/apiguard/apiguard/policy/keymat"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// credentials is what the key sources yielded for one request.
type credentials struct {
	count      int    // credentials found (a repeated header counts each time)
	value      string // the first one, raw (query values still encoded)
	fromQuery  bool
	headerMask uint     // header sources that were present (for stripping)
	queryCount int      // occurrences of credential query parameters
	entry      keyEntry // the accepted key, set by authenticate
	// scan is the pass over the query (query_scan.go), for the pagination
	// check and the rewrite.
	scan queryScan
}

// findCredentials reads every key source into c, which is zero. The query
// is scanned once, for the credential parameters and the pagination
// parameters of the matched route rt (may be nil), into c.scan.
func (p *Policy) findCredentials(c *credentials, h HeaderList, query string, rt *route) {
	if len(h) > 0 {
		p.headerCredentials(c, h)
	}
	var prof *profile
	if rt != nil {
		prof = rt.profile
	}
	if query != "" && (len(p.queryParams) > 0 || prof != nil) {
		p.scanQuery(c, query, prof)
	}
}

// headerCredentials reads the header sources into c in one walk over the
// headers. A header whose name equals a source's under ASCII case folding
// is a credential; the first value of each source and its count are
// taken in the order of the sources. With hide_credentials, a header that
// a back end reads as the same name under another spelling
// (SameHeaderName: x_api_key for x-api-key) is no credential, but must not
// reach the upstream either: its source's bit goes into the header mask.
// A source with a scheme counts only when the value has the scheme (for a
// credential, only when the header comes once).
func (p *Policy) headerCredentials(c *credentials, h HeaderList) {
	var first [maxKeySources]string
	var count [maxKeySources]int
	var other uint
	for _, kv := range h {
		for i := range p.sources {
			s := &p.sources[i]
			if len(kv[0]) != len(s.header) || s.query != "" {
				continue
			}
			if equalFoldASCII(kv[0], s.header) {
				// A credential: its source's bit is set below, unless
				// it is alone and lacks the scheme, as an other spelling
				// would.
				if count[i] == 0 {
					first[i] = kv[1]
				}
				count[i]++
				continue
			}
			if !p.hide || !SameHeaderName(kv[0], s.header) {
				continue
			}
			if s.scheme != "" {
				if _, ok := cutScheme(kv[1], s.scheme); !ok {
					continue
				}
			}
			other |= 1 << s.bit
		}
	}
	for i := range p.sources {
		s := &p.sources[i]
		v, n := first[i], count[i]
		if n == 0 {
			continue
		}
		if n == 1 && s.scheme != "" {
			key, ok := cutScheme(v, s.scheme)
			if !ok {
				continue // another authentication scheme: not ours
			}
			v = key
		}
		if c.count == 0 {
			c.value = v
		}
		c.count += n
		c.headerMask |= 1 << s.bit
	}
	c.headerMask |= other
}

// cutScheme splits an Authorization-style value "<scheme> <key>", comparing
// the scheme case-insensitively. Spaces between scheme and key are skipped;
// anything after is the key (so trailing spaces make it malformed).
func cutScheme(v, scheme string) (string, bool) {
	if len(v) < len(scheme) || !equalFoldASCII(v[:len(scheme)], scheme) {
		return "", false
	}
	rest := v[len(scheme):]
	if rest == "" {
		return "", true // scheme without a key: an empty key
	}
	if rest[0] != ' ' {
		return "", false // a longer scheme name
	}
	for rest != "" && rest[0] == ' ' {
		rest = rest[1:]
	}
	return rest, true
}

// lookup validates a presented key and finds its entry. A key of a loaded
// snapshot, or one the key cache holds, is copied into found, which the
// result then points to.
func (p *Policy) lookup(key string, now time.Time, found *keyEntry) (*keyEntry, Reason, string) {
	if key == "" || len(key) > keymat.MaxLen {
		return nil, ReasonMalformed, detailMalformed
	}
	// A key found before under this policy has passed the format check,
	// and its entry is known (keycache.go).
	e := found
	if ok, refused := p.cache.recall(p, key, found); !ok {
		// A key refused before under this policy is refused again
		// (keycache_miss.go).
		if refused != "" {
			return nil, refused, detailOf(refused)
		}
		var reason Reason
		if e, reason = p.find(key, found); e == nil {
			p.cache.miss(p, key, reason)
			return nil, reason, detailOf(reason)
		}
		p.cache.put(p, key, e)
	}
	switch t := unixNano(now); {
	case e.revoked:
		return e, ReasonRevoked, detailRevoked
	case t < e.notBefore:
		return e, ReasonNotYetValid, detailNotYetValid
	case t >= e.notAfter:
		return e, ReasonExpired, detailExpired
	}
	return e, ReasonAllowed, ""
}

// find checks the format of a presented key and finds its entry in the
// index (a snapshot's is decoded into found): nil and ReasonMalformed or
// ReasonUnknown when there is none.
func (p *Policy) find(key string, found *keyEntry) (*keyEntry, Reason) {
	if !isVisibleASCII(key) || p.format != nil && keymat.Check(p.format.prefix, key, p.format.checksum) != nil {
		return nil, ReasonMalformed
	}
	// A view of the key, not a copy: Sum256 only reads it.
	sum := keysnap.Sum256(unsafe.Slice(unsafe.StringData(key), len(key)))
	if p.snap != nil {
		if e := p.snap.find(&sum, found); e != nil {
			return e, ReasonAllowed
		}
		return nil, ReasonUnknown
	}
	if i, ok := p.keys.find(&sum); ok {
		return &p.entries[i], ReasonAllowed
	}
	return nil, ReasonUnknown
}

// detailOf is the detail of a lookup's malformed or unknown key.
func detailOf(r Reason) string {
	if r == ReasonMalformed {
		return detailMalformed
	}
	return detailUnknown
}

// authenticate checks the request's single credential and stores its key
// entry in cred; denied reports a 400 or 401 denial, written into
// *denial (an accepted key returns no Decision to copy).
func (p *Policy) authenticate(r *Request, cred *credentials, denial *Decision) (denied bool) {
	switch {
	case cred.count == 0:
		*denial = unauthorized(ReasonMissing, detailMissing, false)
		return true
	case cred.count > 1:
		*denial = deny(ReasonInvalidRequest, detailInvalidRequest)
		denial.Identity.KeyPresented = true
		return true
	}
	key := cred.value
	if cred.fromQuery {
		var ok bool
		if key, ok = decodeComponent(key); !ok {
			*denial = unauthorized(ReasonMalformed, detailMalformed, true)
			return true
		}
	}
	var found keyEntry
	e, reason, detail := p.lookup(key, r.Now, &found)
	if reason != ReasonAllowed {
		*denial = unauthorized(reason, detail, true)
		if e != nil { // revoked, expired, not yet valid: say whose key it is
			denial.Identity.Consumer, denial.Identity.KeyID = p.consumerID(&p.consumers[e.consumer]), p.keyID(e)
		}
		return true
	}
	cred.entry = *e
	return false
}
