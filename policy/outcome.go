package policy

import "strconv"

// Outcome is what the filter did with a request it judged: the "decision"
// of its log lines (internal/accesslog) and of its filter-state record
// (FieldDecision), and of apiguard replay's results. The zero value is no
// outcome; its text is empty.
type Outcome uint8

// The outcomes. Their words are stable: log pipelines and CEL filters
// match them.
const (
	OutcomeAllow      Outcome = iota + 1 // forwarded (enforce or shadow mode)
	OutcomeDeny                          // answered with a 4xx or 5xx
	OutcomeShadowDeny                    // shadow mode: would have been denied, forwarded
)

// outcomeWords is the one table of the outcomes' words, by Outcome.
var outcomeWords = [...]string{OutcomeAllow: "allow", OutcomeDeny: "deny", OutcomeShadowDeny: "shadow_deny"}

// Outcomes returns every outcome.
func Outcomes() []Outcome {
	out := make([]Outcome, 0, len(outcomeWords)-1)
	for o := OutcomeAllow; int(o) < len(outcomeWords); o++ {
		out = append(out, o)
	}
	return out
}

// String returns the outcome's word, "" for the zero value or an unknown
// one.
func (o Outcome) String() string {
	if int(o) < len(outcomeWords) {
		return outcomeWords[o]
	}
	return ""
}

// MarshalText returns the outcome's word; an outcome without one is an
// error.
func (o Outcome) MarshalText() ([]byte, error) {
	s := o.String()
	if s == "" {
		return nil, &OutcomeError{Text: "Outcome(" + strconv.Itoa(int(o)) + ")"}
	}
	return []byte(s), nil
}

// UnmarshalText sets o from its word.
func (o *Outcome) UnmarshalText(b []byte) error {
	v, ok := ParseOutcome(string(b))
	if !ok {
		return &OutcomeError{Text: string(b)}
	}
	*o = v
	return nil
}

// ParseOutcome returns the outcome whose word is s.
func ParseOutcome(s string) (Outcome, bool) {
	for o, w := range outcomeWords {
		if w != "" && w == s {
			return Outcome(o), true
		}
	}
	return 0, false
}

// OutcomeError is the error of a word that names no outcome.
type OutcomeError struct{ Text string }

func (e *OutcomeError) Error() string { return "not a decision outcome: " + e.Text }

// OutcomeOf returns the outcome of d in enforce or shadow mode (d by
// pointer: the filter asks on every request, and a Decision is large).
func OutcomeOf(d *Decision, shadow bool) Outcome {
	switch {
	case d.Allow:
		return OutcomeAllow
	case shadow:
		return OutcomeShadowDeny
	}
	return OutcomeDeny
}
