package policy

import (
	"encoding/json"
	"testing"
)

func TestOutcomeText(t *testing.T) {
	want := map[Outcome]string{OutcomeAllow: "allow", OutcomeDeny: "deny", OutcomeShadowDeny: "shadow_deny"}
	if len(Outcomes()) != len(want) {
		t.Fatalf("Outcomes() = %v", Outcomes())
	}
	for _, o := range Outcomes() {
		b, err := json.Marshal(o)
		if err != nil || string(b) != `"`+want[o]+`"` {
			t.Errorf("json.Marshal(%d) = %s, %v; want %q", o, b, err, want[o])
		}
		var back Outcome
		if err := json.Unmarshal(b, &back); err != nil || back != o {
			t.Errorf("json.Unmarshal(%s) = %v, %v", b, back, err)
		}
	}
	for _, bad := range []string{`""`, `"Allow"`, `"allowed"`} {
		var o Outcome
		if err := json.Unmarshal([]byte(bad), &o); err == nil {
			t.Errorf("json.Unmarshal(%s) = %v, want an error", bad, o)
		}
	}
	if _, err := json.Marshal(Outcome(0)); err == nil {
		t.Error("the zero Outcome marshals")
	}
}

func TestOutcomeOf(t *testing.T) {
	allow, deny := Decision{Allow: true}, Decision{}
	for _, tc := range []struct {
		d      Decision
		shadow bool
		want   Outcome
	}{
		{allow, false, OutcomeAllow}, {allow, true, OutcomeAllow},
		{deny, false, OutcomeDeny}, {deny, true, OutcomeShadowDeny},
	} {
		if got := OutcomeOf(&tc.d, tc.shadow); got != tc.want {
			t.Errorf("OutcomeOf(allow=%v, shadow=%v) = %v, want %v", tc.d.Allow, tc.shadow, got, tc.want)
		}
	}
}
