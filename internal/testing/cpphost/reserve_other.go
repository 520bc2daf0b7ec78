//go:build !unix

package cpphost

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is wazero's default off unix: ReserveMemory has no effect.
func memoryAllocator() experimental.MemoryAllocator { return nil }
