package policy

import "testing"

func TestReasons(t *testing.T) {
	rs := Reasons()
	if len(rs) != len(reasonTable) || len(reasonInfo) != len(reasonTable) {
		t.Fatalf("%d reasons, %d infos: a reason is listed twice in reasonTable", len(rs), len(reasonInfo))
	}
	for _, r := range rs {
		info, ok := reasonInfo[r]
		if !ok || info.status == 0 || info.title == "" || info.typ != ProblemTypeBase+string(r) {
			t.Errorf("reason %s: %+v", r, info)
		}
	}
}

// TestInfoOf: infoOf gives reasonInfo's data for every reason, and none
// for an unknown one.
func TestInfoOf(t *testing.T) {
	for _, r := range Reasons() {
		if infoOf(r) != reasonInfo[r] {
			t.Errorf("%s: %+v, want %+v", r, infoOf(r), reasonInfo[r])
		}
	}
	if infoOf("nonsense") != (reasonData{}) {
		t.Error("an unknown reason has data")
	}
}
