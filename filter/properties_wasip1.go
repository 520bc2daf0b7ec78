//go:build wasip1 && !tinygo

package main

import "github.com/apiguard/apiguard/filter/internal/bridge"

// property reads a property straight through the bridge: no path
// serialization and no allocation per call.
func property(path []byte) ([]byte, bool) {
	v, st := bridge.Property(path)
	return v, st == 0
}
