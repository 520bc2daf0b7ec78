//go:build wasip1 && !tinygo

package main

import "github.com/apiguard/apiguard/filter/internal/bridge"

// The bridge reports the contexts the host deletes, so HTTP contexts are
// reused (stream_pool.go). Natively the SDK's emulator deletes contexts
// without telling the plugin, and nothing is reused.
func init() {
	streams.on = true
	bridge.OnContextDeleted(streams.deleted)
}
