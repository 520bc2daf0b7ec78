package main

import (
	"strings"
	"testing"
)

// stream is a shortened go test -json run: a package that passed with a
// skipped test, one with a failing test, one that did not build.
const stream = `{"Action":"start","Package":"ex/a"}
{"Action":"run","Package":"ex/a","Test":"TestOK"}
{"Action":"output","Package":"ex/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"pass","Package":"ex/a","Test":"TestOK"}
{"Action":"run","Package":"ex/a","Test":"TestEnvoy"}
{"Action":"output","Package":"ex/a","Test":"TestEnvoy","Output":"=== RUN   TestEnvoy\n"}
{"Action":"output","Package":"ex/a","Test":"TestEnvoy","Output":"    h_test.go:52: no Envoy on PATH\n"}
{"Action":"output","Package":"ex/a","Test":"TestEnvoy","Output":"--- SKIP: TestEnvoy (0.00s)\n"}
{"Action":"skip","Package":"ex/a","Test":"TestEnvoy"}
{"Action":"run","Package":"ex/a","Test":"TestEnvoy2"}
{"Action":"output","Package":"ex/a","Test":"TestEnvoy2","Output":"    h_test.go:60: no Envoy on PATH\n"}
{"Action":"skip","Package":"ex/a","Test":"TestEnvoy2"}
{"Action":"output","Package":"ex/a","Output":"PASS\n"}
{"Action":"output","Package":"ex/a","Output":"ok  \tex/a\t0.01s\n"}
{"Action":"pass","Package":"ex/a"}
{"Action":"run","Package":"ex/b","Test":"TestBad"}
{"Action":"output","Package":"ex/b","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"ex/b","Test":"TestBad","Output":"    b_test.go:9: got 1, want 2\n"}
{"Action":"output","Package":"ex/b","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"ex/b","Test":"TestBad"}
{"Action":"output","Package":"ex/b","Output":"FAIL\n"}
{"Action":"output","Package":"ex/b","Output":"FAIL\tex/b\t0.01s\n"}
{"Action":"fail","Package":"ex/b"}
{"Action":"output","Package":"ex/d","Output":"?   \tex/d\t[no test files]\n"}
{"Action":"skip","Package":"ex/d"}
{"ImportPath":"ex/c","Action":"build-output","Output":"c.go:3:1: syntax error\n"}
{"ImportPath":"ex/c","Action":"build-fail"}
`

func TestSummary(t *testing.T) {
	var out strings.Builder
	failed, err := summarize(strings.NewReader(stream), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Error("a failing package was not reported as a failure")
	}
	got := out.String()
	for _, want := range []string{
		"ok  \tex/a\t0.01s\n",
		"    b_test.go:9: got 1, want 2\n--- FAIL: TestBad (0.00s)\n",
		"FAIL\tex/b\t0.01s\n",
		"c.go:3:1: syntax error\n",
		"?   \tex/d\t[no test files]\n",
		"SKIP ex/a: 2 tests (TestEnvoy, TestEnvoy2): no Envoy on PATH\n",
		"tests: 1 passed, 1 failed, 2 skipped\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"=== RUN", "TestOK", "PASS\n", "SKIP ex/d"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("output has %q, which plain go test does not print:\n%s", unwanted, got)
		}
	}
	if !strings.HasSuffix(got, "no Envoy on PATH\ntests: 1 passed, 1 failed, 2 skipped\n") {
		t.Errorf("the skip summary and then the counts are not at the end:\n%s", got)
	}
}

func TestAllPassIsNotAFailure(t *testing.T) {
	in := `{"Action":"output","Package":"ex/a","Output":"ok  \tex/a\t0.01s\n"}
{"Action":"pass","Package":"ex/a"}
`
	var out strings.Builder
	if failed, err := summarize(strings.NewReader(in), &out); err != nil || failed {
		t.Errorf("summarize = %v, %v; want no failure", failed, err)
	}
}
