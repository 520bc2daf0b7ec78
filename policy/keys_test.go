package policy

import "testing"

func TestReasons(t *testing.T) {
	rs := Reasons()
	if len(rs) != 14 || len(reasonInfo) != 14 {
		t.Fatalf("%d reasons, %d infos", len(rs), len(reasonInfo))
	}
	for _, r := range rs {
		info, ok := reasonInfo[r]
		if !ok || info.status == 0 || info.title == "" || info.typ != ProblemTypeBase+string(r) {
			t.Errorf("reason %s: %+v", r, info)
		}
	}
}
