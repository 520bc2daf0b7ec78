package policy

import "github.com/tidwall/gjson"

// The fast path of an inline consumer, as fastKey is of a key: an object
// of consumerFields' members, each of the common shape (strings without
// escapes, scopes an array of such strings, keys an array of keys that
// fastKeysAt reads), and valid. Anything else, parseConsumer reads through
// consumerFields, which reports what is wrong (TestFastConsumerKnows-
// ConsumerFields, TestCompileFastAgreesWithGeneric).

// Bits of the members fastConsumer has read.
const (
	fastConsumerID = 1 << iota
	fastConsumerScopes
	fastConsumerRateLimit
	fastConsumerQuota
	fastConsumerKeys
)

// fastConsumerNames are the member names fastConsumer reads.
var fastConsumerNames = []string{"id", "scopes", "rate_limit", "quota", "keys"}

// fastConsumer reads the consumer v at path, and reports whether it could:
// false when v is not of the common shape or not a valid consumer.
func (ps *parser) fastConsumer(path jsonPath, v gjson.Result) (c consumerConf, ok bool) {
	s := v.Raw
	if ps.generic || v.Type != gjson.JSON || at(s, 0) != '{' {
		return c, false
	}
	c.path = path
	member := path.reserve(1) // as parser.object's paths
	seen := 0
	i := skipSpaceString(s, 1)
	if at(s, i) == '}' {
		return c, false
	}
	for {
		var name string
		if name, i, ok = plainString(s, i); !ok {
			return c, false
		}
		if i = skipSpaceString(s, i); at(s, i) != ':' {
			return c, false
		}
		i = skipSpaceString(s, i+1)
		var bit int
		switch name {
		case "id":
			bit = fastConsumerID
			c.id, i, ok = plainID(s, i)
			c.idOK = ok
		case "scopes":
			bit = fastConsumerScopes
			c.scopes, i, ok = ps.fastScopes(s, i)
		case "rate_limit":
			bit = fastConsumerRateLimit
			c.rateLimit, i, ok = plainString(s, i)
			c.limitPath = member.member("rate_limit")
		case "quota":
			bit = fastConsumerQuota
			c.quota, i, ok = plainString(s, i)
			c.quotaPath = member.member("quota")
		case "keys":
			bit = fastConsumerKeys
			c.keys, i, ok = ps.fastKeysAt(s, i)
		}
		if !ok || bit == 0 || seen&bit != 0 {
			return c, false
		}
		seen |= bit
		if i = skipSpaceString(s, i); at(s, i) == ',' {
			i = skipSpaceString(s, i+1)
			continue
		}
		if at(s, i) != '}' || skipSpaceString(s, i+1) != len(s) {
			return c, false
		}
		break
	}
	if seen&fastConsumerID == 0 {
		return c, false
	}
	c.id = ps.keep(c.id)
	if seen&fastConsumerRateLimit != 0 {
		c.rateLimit = ps.keep(c.rateLimit)
	}
	if seen&fastConsumerQuota != 0 {
		c.quota = ps.keep(c.quota)
	}
	return c, true
}

// fastScopes reads the array of scopes at offset i of s when each is a
// string without escapes, a valid scope (isScope) and not repeated.
func (ps *parser) fastScopes(s string, i int) (scopes []string, end int, ok bool) {
	if at(s, i) != '[' {
		return nil, i, false
	}
	if i = skipSpaceString(s, i+1); at(s, i) == ']' {
		return nil, i + 1, true
	}
	for {
		var scope string
		if scope, i, ok = plainString(s, i); !ok || !isScope(scope) {
			return nil, i, false
		}
		for _, prev := range scopes {
			if prev == scope {
				return nil, i, false
			}
		}
		scopes = append(scopes, scope)
		switch i = skipSpaceString(s, i); at(s, i) {
		case ',':
			i = skipSpaceString(s, i+1)
		case ']':
			for j := range scopes {
				scopes[j] = ps.keep(scopes[j])
			}
			return scopes, i + 1, true
		default:
			return nil, i, false
		}
	}
}
