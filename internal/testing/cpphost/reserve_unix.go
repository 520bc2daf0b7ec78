//go:build unix

package cpphost

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// reservingAllocator backs a linear memory with one anonymous mapping of
// its maximum size, reserved but not committed, so that memory.grow only
// lengthens the slice: V8, which Envoy runs the plugin in, reserves the
// wasm address space the same way, where wazero's default allocator copies
// the whole memory into a larger buffer at every growth (hundreds of
// milliseconds at 100 MiB, which no Envoy callback pays).
type reservingAllocator struct{}

func (reservingAllocator) Allocate(_, max uint64) experimental.LinearMemory {
	if max == 0 || max > 4<<30 {
		max = 4 << 30
	}
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	return &reservedMemory{buf: b}
}

type reservedMemory struct{ buf []byte }

func (m *reservedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size:size]
}

func (m *reservedMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}

func memoryAllocator() experimental.MemoryAllocator { return reservingAllocator{} }
