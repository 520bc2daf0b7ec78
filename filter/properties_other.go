//go:build !wasip1 || tinygo

package main

import (
	"strings"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// property reads a property through the SDK (the native test runner; the
// emulator returns a copy, which is never changed afterwards).
func property(path []byte) ([]byte, bool) {
	v, err := proxywasm.GetProperty(strings.Split(string(path), "\x00"))
	return v, err == nil
}

// hostCopied returns b as a string for a host call that copies it. The SDK's
// emulator keeps the strings it is given, so natively it is a copy.
func hostCopied(b []byte) string { return string(b) }

// pathBuffer returns nil: the SDK's emulator keeps the header values it
// is given, so every new :path needs memory of its own.
func pathBuffer() []byte { return nil }

// setProperty sets the one-segment property key to value through the SDK,
// which the native runner's emulator keeps: the value is a copy.
func setProperty(key, value string) error {
	return proxywasm.SetProperty([]string{key}, []byte(value))
}
