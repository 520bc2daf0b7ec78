package cpphost

import (
	"encoding/binary"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// read copies size bytes at ptr out of the module's linear memory; an
// address out of range traps, as it does in cpp-host.
func read(m api.Module, ptr, size uint64) []byte {
	b, ok := m.Memory().Read(uint32(ptr), uint32(size))
	if !ok {
		panic(&trapError{fmt.Sprintf("guest memory out of range: %d+%d", ptr, size)})
	}
	return append([]byte(nil), b...)
}

// give returns data to the module as cpp-host's copyToPointerSize does: it
// obtains memory from the module's allocator under allocMemory's
// restrictions, copies data there and writes address and size to the
// out-parameters. A zero address from the allocator is
// InvalidMemoryAccess; an empty value is written as address 0, size 0
// without calling the allocator.
func give(vm *VM, hostCall string, data []byte, retPtr, retSize uint64) uint64 {
	m := vm.mod
	var addr uint64
	if len(data) > 0 {
		vm.phase, vm.during = PhaseAllocate, hostCall+" in "+vm.inCall
		r, err := vm.call("proxy_on_memory_allocate", uint64(len(data)))
		vm.phase, vm.during = "", ""
		if err != nil {
			panic(&trapError{err.Error()})
		}
		if r == 0 {
			return statusInvalidMemoryAccess
		}
		addr = r
		if !m.Memory().Write(uint32(addr), data) {
			return statusInvalidMemoryAccess
		}
	}
	if !m.Memory().WriteUint32Le(uint32(retPtr), uint32(addr)) ||
		!m.Memory().WriteUint32Le(uint32(retSize), uint32(len(data))) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

// encodePairs serializes a header map the proxy-wasm way: count, the
// key/value sizes, then each key and value followed by a NUL.
func encodePairs(pairs [][2]string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(pairs)))
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(append(b, p[0]...), 0)
		b = append(append(b, p[1]...), 0)
	}
	return b
}

// decodePairs reads a serialized header map; ok is false when it is
// malformed.
func decodePairs(b []byte) (pairs [][2]string, ok bool) {
	if len(b) == 0 {
		return nil, true
	}
	if len(b) < 4 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 0 || 4+8*n > len(b) {
		return nil, false
	}
	sizes := b[4:]
	data := b[4+8*n:]
	pairs = make([][2]string, n)
	for i := range n {
		k := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		v := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if k+1+v+1 > len(data) {
			return nil, false
		}
		pairs[i] = [2]string{string(data[:k]), string(data[k+1 : k+1+v])}
		data = data[k+1+v+1:]
	}
	return pairs, true
}
