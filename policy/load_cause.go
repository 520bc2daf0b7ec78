package policy

// LoadCause is why a key snapshot was rejected (LoadError.Cause). Each cause
// is a counter of the filter's (apiguard.key_store.reject.<cause>, named in
// internal/metricname), so causes are an enumeration rather than strings: a
// misspelt cause does not compile. The zero value is no cause.
type LoadCause uint8

// The causes; loadCauseWords gives their stable words.
const (
	CauseTruncated LoadCause = iota + 1
	CauseCorrupt
	CauseUnsigned
	CauseBadSignature
	CauseOlderGeneration
	CauseConfigMismatch
	CauseInvalid
	CauseWrongAudience
	CauseTooLarge
)

// loadCauseWords is the one table of the causes' words, by LoadCause.
var loadCauseWords = [...]string{
	CauseTruncated:       "truncated",
	CauseCorrupt:         "corrupt",
	CauseUnsigned:        "unsigned",
	CauseBadSignature:    "bad_signature",
	CauseOlderGeneration: "older_generation",
	CauseConfigMismatch:  "config_mismatch",
	CauseInvalid:         "invalid",
	CauseWrongAudience:   "wrong_audience",
	CauseTooLarge:        "too_large",
}

// NumLoadCauses bounds the causes: every LoadCause is below it, so that an
// array of NumLoadCauses holds one entry per cause.
const NumLoadCauses = int(CauseTooLarge) + 1

// LoadCauses lists every cause, for metric registration.
func LoadCauses() []LoadCause {
	cs := make([]LoadCause, 0, NumLoadCauses-1)
	for c := CauseTruncated; int(c) < NumLoadCauses; c++ {
		cs = append(cs, c)
	}
	return cs
}

// String returns the cause's word, "" for the zero value.
func (c LoadCause) String() string {
	if int(c) < len(loadCauseWords) {
		return loadCauseWords[c]
	}
	return ""
}

// MarshalText returns the cause's word.
func (c LoadCause) MarshalText() ([]byte, error) { return []byte(c.String()), nil }
