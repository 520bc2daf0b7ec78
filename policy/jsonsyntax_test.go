package policy

import (
	"encoding/json"
	"errors"
	"testing"
)

// TestSyntaxErrorMatchesEncodingJSON: the scanner reports the offset and the
// message encoding/json would, for the errors a hand-edited configuration
// has.
func TestSyntaxErrorMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{"mode": }`, `{"mode": "x",}`, `{"a" 1}`, `{"a": tru}`, `[1, 2`, `{"a": "b`, `{"a": 01}`,
		`{"a": 1.}`, `{"a": 1e}`, `{"a": -}`, `{"a": "\x"}`, `{"a": "\u12g4"}`, "{\"a\": \"\x01\"}", `{} x`,
		`   `, `{"a": [1 2]}`, `{"a": {"b": 1 "c": 2}}`, `{'a': 1}`, `{"a":1}}`,
	} {
		var v any
		var se *json.SyntaxError
		err := json.Unmarshal([]byte(in), &v)
		if !errors.As(err, &se) {
			t.Fatalf("%q: encoding/json gave %v, want a syntax error", in, err)
		}
		off, msg, ok := syntaxError([]byte(in))
		if !ok || int64(off) != se.Offset || msg != se.Error() {
			t.Errorf("%q: got (%d, %q, %v), encoding/json says (%d, %q)", in, off, msg, ok, se.Offset, se.Error())
		}
	}
	if _, _, ok := syntaxError([]byte(`{"a": [1, {"b": null}], "c": -1.5e+3}`)); ok {
		t.Error("valid JSON reported as an error")
	}
}
