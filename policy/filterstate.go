package policy

// The filter-state contract: what the filter records about every request
// it judges, for the proxy's access log and telemetry (docs/logging.md).
// It sets one property, StateKey, with proxy_set_property to a JSON object
// of the fields below. Envoy keeps it in the stream's filter state under
// FilterStatePrefix + StateKey (envoyproxy/envoy
// source/extensions/common/wasm/context.cc, Context::setProperty, at
// b40935a), so that an access log prints it as
// %FILTER_STATE(wasm.apiguard:PLAIN)% and CEL reads it as
// filter_state['wasm.apiguard']. One property rather than one per field:
// Envoy cannot read a field of it either way (a Wasm filter's value is a
// CelState of bytes, without fields), and each proxy_set_property is a host
// call that make bench measures. The names are stable: a format or a log
// pipeline that uses them keeps working across releases.
const (
	// StateKey is the property apiguard sets.
	StateKey = "apiguard"
	// FilterStatePrefix is what Envoy puts in front of a property path a
	// Wasm filter sets (CelStateKeyPrefix in context.cc) to name it in the
	// filter state.
	FilterStatePrefix = "wasm."
)

// The fields of the record, in the order they are written. A field without
// a value for the request is left out.
const (
	// FieldDecision is an Outcome (outcome.go): what was done. Always
	// present, and always first, so that a CEL filter can test the
	// record's prefix.
	FieldDecision = "decision"
	// FieldReason is the decision's Reason, or ReasonInternalError. Always
	// present.
	FieldReason = "reason"
	// FieldRoute is the name of the matched route.
	FieldRoute = "route"
	// FieldConsumer is the consumer id of the key presented, when a key
	// was found (also for revoked, expired and other denials of a known
	// key).
	FieldConsumer = "consumer"
	// FieldKeyID is the id of that key, never the key.
	FieldKeyID = "key_id"
	// FieldQuota is the fleet quota an allowed request is counted against
	// (the quota header's value; in shadow mode, which sets no quota
	// header, the one it would be).
	FieldQuota = "quota"
	// FieldRateLimitRemaining is the number of whole tokens left in the
	// request's rate-limit bucket after it, a JSON number (0 when rate
	// limited); absent when the route has no rate limit or the bucket
	// could not be read.
	FieldRateLimitRemaining = "rate_limit_remaining"
)

// StateFields returns the fields of the record in the order they are
// written.
func StateFields() []string {
	return []string{FieldDecision, FieldReason, FieldRoute, FieldConsumer, FieldKeyID, FieldQuota, FieldRateLimitRemaining}
}

// ReasonInternalError is the FieldReason of a request the filter failed
// closed with 500 because it could not decide (the problem type
// .../internal_error); it is not a decision of the policy, so Reasons does
// not list it.
const ReasonInternalError Reason = "internal_error"
