package policy

// Reason is a stable code naming why a request was allowed or denied. It is
// meant for logs and metrics labels.
type Reason string

// The complete set of reasons.
const (
	ReasonAllowed           Reason = "allowed"            // 200
	ReasonMissing           Reason = "missing"            // 401: no credential on a protected route
	ReasonMalformed         Reason = "malformed"          // 401: empty, non-printable or badly formatted key
	ReasonUnknown           Reason = "unknown"            // 401: no key with this hash
	ReasonRevoked           Reason = "revoked"            // 401
	ReasonExpired           Reason = "expired"            // 401: now >= not_after
	ReasonNotYetValid       Reason = "not_yet_valid"      // 401: now < not_before
	ReasonInvalidRequest    Reason = "invalid_request"    // 400: more than one credential
	ReasonInsufficientScope Reason = "insufficient_scope" // 403
	ReasonNoRoute           Reason = "no_route"           // 403: no route matched and unmatched is "deny"
	ReasonBadPath           Reason = "bad_path"           // 400
	ReasonBadPagination     Reason = "bad_pagination"     // 400
	ReasonRateLimited       Reason = "rate_limited"       // 429: only from RateLimited
	// ReasonKeyStoreUnavailable: 503, only from KeyStoreUnavailable (no
	// key snapshot loaded yet).
	ReasonKeyStoreUnavailable Reason = "key_store_unavailable"
)

// reasonInfo holds the fixed response data of each reason.
var reasonInfo = map[Reason]struct {
	status int
	title  string
	typ    string
}{
	ReasonAllowed:           {200, "Allowed", ProblemTypeBase + string(ReasonAllowed)},
	ReasonMissing:           {401, "API key required", ProblemTypeBase + string(ReasonMissing)},
	ReasonMalformed:         {401, "Malformed API key", ProblemTypeBase + string(ReasonMalformed)},
	ReasonUnknown:           {401, "Unknown API key", ProblemTypeBase + string(ReasonUnknown)},
	ReasonRevoked:           {401, "Revoked API key", ProblemTypeBase + string(ReasonRevoked)},
	ReasonExpired:           {401, "Expired API key", ProblemTypeBase + string(ReasonExpired)},
	ReasonNotYetValid:       {401, "API key not yet valid", ProblemTypeBase + string(ReasonNotYetValid)},
	ReasonInvalidRequest:    {400, "More than one credential", ProblemTypeBase + string(ReasonInvalidRequest)},
	ReasonInsufficientScope: {403, "Insufficient scope", ProblemTypeBase + string(ReasonInsufficientScope)},
	ReasonNoRoute:           {403, "No matching route", ProblemTypeBase + string(ReasonNoRoute)},
	ReasonBadPath:           {400, "Invalid path", ProblemTypeBase + string(ReasonBadPath)},
	ReasonBadPagination:     {400, "Invalid pagination parameters", ProblemTypeBase + string(ReasonBadPagination)},
	ReasonRateLimited:       {429, "Too many requests", ProblemTypeBase + string(ReasonRateLimited)},

	ReasonKeyStoreUnavailable: {503, "Key store unavailable", ProblemTypeBase + string(ReasonKeyStoreUnavailable)},
}

// Reasons returns every reason code, for metric registration.
func Reasons() []Reason {
	return []Reason{
		ReasonAllowed, ReasonMissing, ReasonMalformed, ReasonUnknown,
		ReasonRevoked, ReasonExpired, ReasonNotYetValid, ReasonInvalidRequest,
		ReasonInsufficientScope, ReasonNoRoute, ReasonBadPath,
		ReasonBadPagination, ReasonRateLimited, ReasonKeyStoreUnavailable,
	}
}

// ProblemTypeBase prefixes the reason in a problem's "type" URI.
const ProblemTypeBase = "https://apiguard.dev/problems/"

// problemType returns the RFC 9457 type URI of a reason.
func problemType(r Reason) string { return reasonInfo[r].typ }

// statusOf returns the HTTP status of a reason.
func statusOf(r Reason) int { return reasonInfo[r].status }

// titleOf returns the problem title of a reason.
func titleOf(r Reason) string { return reasonInfo[r].title }
