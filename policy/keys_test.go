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
