package policy

// Reason is a stable code naming why a request was allowed or denied. It is
// meant for logs and metrics labels.
type Reason string

// The complete set of reasons; reasonTable gives each its status and title.
const (
	ReasonAllowed             Reason = "allowed"
	ReasonMissing             Reason = "missing"
	ReasonMalformed           Reason = "malformed"
	ReasonUnknown             Reason = "unknown"
	ReasonRevoked             Reason = "revoked"
	ReasonExpired             Reason = "expired"
	ReasonNotYetValid         Reason = "not_yet_valid"
	ReasonInvalidRequest      Reason = "invalid_request"
	ReasonInsufficientScope   Reason = "insufficient_scope"
	ReasonNoRoute             Reason = "no_route"
	ReasonBadPath             Reason = "bad_path"
	ReasonBadPagination       Reason = "bad_pagination"
	ReasonRateLimited         Reason = "rate_limited"
	ReasonKeyStoreUnavailable Reason = "key_store_unavailable"
)

// reasonTable is the one list of the reasons, in the order Reasons returns
// them (the order of metric registration and of reports), with the fixed
// response data of each. Everything else about reasons (Reasons,
// reasonInfo, the decision counters, the documentation check) derives from
// it.
var reasonTable = [...]struct {
	reason Reason
	status int
	title  string
}{
	{ReasonAllowed, 200, "Allowed"},
	{ReasonMissing, 401, "API key required"},    // no credential on a protected route
	{ReasonMalformed, 401, "Malformed API key"}, // empty, non-printable or badly formatted key
	{ReasonUnknown, 401, "Unknown API key"},     // no key with this hash
	{ReasonRevoked, 401, "Revoked API key"},
	{ReasonExpired, 401, "Expired API key"},           // now >= not_after
	{ReasonNotYetValid, 401, "API key not yet valid"}, // now < not_before
	{ReasonInvalidRequest, 400, "More than one credential"},
	{ReasonInsufficientScope, 403, "Insufficient scope"},
	{ReasonNoRoute, 403, "No matching route"}, // no route matched and unmatched is "deny"
	{ReasonBadPath, 400, "Invalid path"},
	{ReasonBadPagination, 400, "Invalid pagination parameters"},
	{ReasonRateLimited, 429, "Too many requests"},             // only from RateLimited
	{ReasonKeyStoreUnavailable, 503, "Key store unavailable"}, // only from KeyStoreUnavailable: no key snapshot loaded yet
}

// reasonData is the fixed response data of a reason.
type reasonData struct {
	status int
	title  string
	typ    string // the problem type URI, built once
}

// reasonInfo holds the fixed response data of each reason, by reason.
var reasonInfo = func() map[Reason]reasonData {
	m := make(map[Reason]reasonData, len(reasonTable))
	for _, e := range reasonTable {
		m[e.reason] = reasonData{e.status, e.title, ProblemTypeBase + string(e.reason)}
	}
	return m
}()

// reasonInfos is reasonInfo by ReasonIndex: on the request path a
// switch costs less than hashing the reason.
var reasonInfos = func() (a [len(reasonTable)]reasonData) {
	for i, e := range reasonTable {
		a[i] = reasonInfo[e.reason]
	}
	return a
}()

// infoOf returns the fixed response data of r (zero for an unknown one).
func infoOf(r Reason) reasonData {
	if i := ReasonIndex(r); i >= 0 {
		return reasonInfos[i]
	}
	return reasonData{}
}

// Reasons returns every reason code, for metric registration.
func Reasons() []Reason {
	rs := make([]Reason, len(reasonTable))
	for i, e := range reasonTable {
		rs[i] = e.reason
	}
	return rs
}

// ReasonIndex returns the position of r in Reasons, or -1 for a reason
// Reasons does not list: a switch, so that a caller indexing per-reason
// data (the filter's decision counters) hashes no string.
func ReasonIndex(r Reason) int {
	if r == ReasonAllowed { // most requests: compared in place
		return 0
	}
	switch r {
	case ReasonMissing:
		return 1
	case ReasonMalformed:
		return 2
	case ReasonUnknown:
		return 3
	case ReasonRevoked:
		return 4
	case ReasonExpired:
		return 5
	case ReasonNotYetValid:
		return 6
	case ReasonInvalidRequest:
		return 7
	case ReasonInsufficientScope:
		return 8
	case ReasonNoRoute:
		return 9
	case ReasonBadPath:
		return 10
	case ReasonBadPagination:
		return 11
	case ReasonRateLimited:
		return 12
	case ReasonKeyStoreUnavailable:
		return 13
	}
	return -1
}

// ProblemTypeBase prefixes the reason in a problem's "type" URI.
const ProblemTypeBase = "https://apiguard.dev/problems/"

// statusOf returns the HTTP status of a reason.
func statusOf(r Reason) int { return infoOf(r).status }
