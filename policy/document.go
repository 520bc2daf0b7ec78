package policy

import (
	"github.com/tidwall/gjson"
)

// config is the parsed configuration before references are resolved. Each
// feature's part is read by its own fields (rootFields names them).
type config struct {
	mode         string
	sources      []keySource
	format       *keyFormat
	hide         bool
	logAllowed   bool
	consumers    []consumerConf
	routes       []routeConf
	unmatched    string
	profiles     []*profile
	profilePaths []jsonPath
	limits       []*Limit
	limitPaths   []jsonPath
	defaultLimit string
	defaultPath  jsonPath
	anonBuckets  int64
	forward      [3]string // consumer, key id, scopes
	forwardPaths [3]jsonPath
	sourcesPath  jsonPath
	// limitsUnsure and profilesUnsure are set when rate_limits or
	// pagination could not be read (or was misspelt): a reference to a
	// policy or profile that is not found is then not reported, as it only
	// follows from the error already reported. badLimits and badProfiles
	// name the entries that were present but could not be read.
	limitsUnsure, profilesUnsure bool
	badLimits, badProfiles       map[string]bool
	quota                        quotaConf // see quota.go
	// consumersPath is where consumers was given; keyStore is the parsed
	// key_store section (keystore.go), at keyStorePath.
	consumersPath jsonPath
	keyStore      *KeyStoreConfig
	keyStorePath  jsonPath
	keyPolicy     *KeyPolicy    // key_policy.go
	identity      *identityConf // identity_token (identity_token.go)
}

// rootFields are the top-level fields of the configuration. Each reads its
// section with the feature's own parser.
var rootFields = schema[config]{docPage: "configuration.md", fields: []field[config]{
	{name: "mode", read: readMode, def: `"enforce"`, doc: "enforce, or shadow: decide and report without enforcing"},
	{name: "key_sources", read: readKeySources, def: `[{"header": "x-api-key"}]`, doc: "where a key may be presented"},
	{name: "key_format", read: func(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
		c.format = ps.parseKeyFormat(p, v)
		return true
	}, doc: "the prefix and checksum every key must have"},
	{name: "hide_credentials", read: readBool(func(c *config) *bool { return &c.hide }), def: "true",
		doc: "remove the credential before the request goes upstream"},
	{name: "log_allowed", read: readBool(func(c *config) *bool { return &c.logAllowed }), def: "false",
		doc: "also log allowed requests"},
	{name: "consumers", read: readConsumers, doc: "the consumers and their keys, inline"},
	{name: "routes", read: readRoutes, doc: "the routes, matched by method and path"},
	{name: "unmatched", read: readUnmatched, def: `"deny"`, doc: "deny, or allow_authenticated: what a request no route matches gets"},
	{name: "pagination", read: readProfiles, doc: "pagination profiles, by name"},
	{name: "rate_limits", read: readLimits, doc: "rate-limit policies, by name"},
	{name: "default_rate_limit", read: readDefaultLimit, doc: "the policy of authenticated requests that name none"},
	{name: "anonymous_buckets", read: readAnonBuckets, def: "1024", doc: "client-IP slots per policy on public routes"},
	{name: "forward", read: readForward, def: "{}", doc: "the names of the headers sent upstream"},
	{name: "quotas", read: readQuotas, doc: "fleet quotas, by name"},
	{name: "default_quota", read: readDefaultQuota, doc: "the quota of authenticated requests that name none"},
	{name: "key_store", read: func(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
		c.keyStorePath, c.keyStore = p, ps.parseKeyStore(p, v)
		return true
	}, doc: "fetch consumers and keys from a signed snapshot"},
	{name: "identity_token", read: func(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
		c.identity = ps.parseIdentityToken(p, v)
		return true
	}, doc: "send a signed JWT naming the consumer upstream"},
	{name: "key_policy", read: func(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
		c.keyPolicy = ps.parseKeyPolicy(p, v)
		return true
	}, doc: "the key-rotation policy"},
	{name: HigressRulesField, read: func(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
		ps.parseHigressRules(p, v)
		return true
	}, hidden: true, doc: "Higress's matchRules, accepted and warned about"},
}}

// readBool returns the read function of a boolean field at ptr.
func readBool[T any](ptr func(*T) *bool) func(ps *parser, p jsonPath, v gjson.Result, t *T) bool {
	return func(ps *parser, p jsonPath, v gjson.Result, t *T) bool {
		if b, ok := ps.boolean(p, v); ok {
			*ptr(t) = b
		}
		return true
	}
}

func readMode(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	if s, ok := ps.enum(p, v, "enforce", "shadow"); ok {
		c.mode = ps.keep(s)
	}
	return true
}

func readUnmatched(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	if s, ok := ps.enum(p, v, "deny", "allow_authenticated"); ok {
		c.unmatched = ps.keep(s)
	}
	return true
}

// parseConfig reads the whole document, recording every problem in ps.
func (ps *parser) parseConfig(root gjson.Result) *config {
	c := &config{badLimits: map[string]bool{}, badProfiles: map[string]bool{}}
	readObject(ps, &rootFields, jsonPath{}, root, c)
	// A misspelt section: its entries are missing, not their references.
	c.limitsUnsure = c.limitsUnsure || ps.misspelt["rate_limits"]
	c.profilesUnsure = c.profilesUnsure || ps.misspelt["pagination"]
	ps.checkKeyStoreExclusive(c)
	ps.checkKeyPolicy(c)
	return c
}
