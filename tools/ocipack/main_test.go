package main

import (
	"strings"
	"testing"
)

func TestTagOf(t *testing.T) {
	for in, want := range map[string]string{
		"v0.1.0-3-gabc1234-dirty": "v0.1.0-3-gabc1234-dirty",
		"v1.0.0+meta":             "v1.0.0_meta",
		"release/v1":              "release_v1",
		"-x":                      "_-x",
		"":                        "_",
		strings.Repeat("a", 200):  strings.Repeat("a", 128),
	} {
		if got := tagOf(in); got != want {
			t.Errorf("tagOf(%q) = %q, want %q", in, got, want)
		}
	}
}
