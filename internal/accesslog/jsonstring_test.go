package accesslog

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// appendStringBytewise is AppendString looking at every byte on its own:
// the reference of the tests below.
func appendStringBytewise(b []byte, s string) []byte { return appendString(b, s, false) }

// TestNeedsEscapeByByte: a word of plain bytes with one byte b at any
// place needs a look exactly when b is not a plain ASCII byte, and a word
// of plain bytes never does.
func TestNeedsEscapeByByte(t *testing.T) {
	for b := 0; b < 256; b++ {
		for at := range 8 {
			w := []byte("abcdefgh")
			w[at] = byte(b)
			want := b >= utf8.RuneSelf || !plain[b]
			if got := needsEscape(load64(string(w), 0)); got != want {
				t.Errorf("byte %#x at %d: needsEscape %v, want %v", b, at, got, want)
			}
		}
	}
}

// TestAppendStringByteAtEveryPlace puts every byte value, and the
// sequences AppendString treats apart, at every place of strings long
// enough to be read by words and their tails.
func TestAppendStringByteAtEveryPlace(t *testing.T) {
	var specials []string
	for b := 0; b < 256; b++ {
		specials = append(specials, string([]byte{byte(b)}))
	}
	specials = append(specials, "é", "\u2028", "\u2029", "\U0001F600", "\xe2\x80", "\xed\xa0\x80")
	for _, sp := range specials {
		for n := 0; n <= 20; n++ {
			for at := 0; at <= n; at++ {
				s := strings.Repeat("x", at) + sp + strings.Repeat("y", n-at)
				if got, want := AppendString(nil, s), appendStringBytewise(nil, s); string(got) != string(want) {
					t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
				}
			}
		}
	}
}

// FuzzAppendString: AppendString writes what the byte-by-byte reference
// writes, and always valid JSON that reads back as the string when it is
// valid UTF-8.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "/v1/orders/12345", `a"b\c<d>&e é` + "\u2028", "\x00\x1f\x7f\xff", strings.Repeat("ab<", 9)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString(nil, s)
		if want := appendStringBytewise(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, got, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("AppendString(%q) reads back as %q", s, back)
		}
	})
}
