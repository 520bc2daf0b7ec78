package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"config", "key-snapshot", "output", "strict", "version", "help"}
	for _, c := range []struct{ in, want string }{
		{"confg", "config"},
		{"key-snapsot", "key-snapshot"},
		{"outptu", "output"},
		{"ver", "version"}, // a prefix
		{"hlp", "help"},
		{"xyz", ""},
		{"stricter", "strict"}, // two edits
		{"verbose", ""},        // four from version: too far
	} {
		if got := Closest(c.in, names); got != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}} {
		if got := Distance(c.a, c.b); got != c.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
