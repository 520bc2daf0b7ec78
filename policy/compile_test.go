package policy

import (
	"bytes"
	"os"
	"reflect"
	"testing"
)

// TestCompileDoesNotRetainConfig overwrites the configuration after Compile:
// the policy must not change, as none of its strings share the text's memory.
func TestCompileDoesNotRetainConfig(t *testing.T) {
	data, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Compile(bytes.Clone(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Compile(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = '#'
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("the policy changed when its configuration was overwritten")
	}
}
