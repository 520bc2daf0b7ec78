//go:build wasip1 && !tinygo

package bridge

import "unsafe"

// Status codes of the proxy-wasm ABI that the bridge itself returns.
const (
	statusOK              = 0
	statusInternalFailure = 10
)

// The allocator. cpp-host before PR #533 (Envoy 1.33 to 1.38) traps a
// module that calls any host function but proxy_log, fd_write and
// clock_time_get while its allocator runs (WasmBase::allocMemory), and a
// Go heap allocation can start a garbage collection, which calls
// poll_oneoff. So proxy_on_memory_allocate does not allocate: it hands out
// room in spare, memory set aside before the host call that fills it
// (reserve). What it hands out is never handed out again: the caller of the
// host call may keep the returned view as long as it likes, and the view,
// a Go pointer into spare, keeps that chunk alive.
var (
	spare    []byte
	spareOff int
	// largestPairs is the largest header map the host has returned, so
	// that the next reservation holds one like it.
	largestPairs int
	// bufferSizes holds the sizes of the buffers the host announced in
	// callbacks (configuration, bodies), by proxy-wasm buffer type.
	bufferSizes [10]int
	// overflow holds the buffers allocated on the Go heap when a request
	// did not fit in spare (a host call whose size could not be known
	// before), pinned until the host call that asked for them returns:
	// the host reports them back only as a 32-bit address the garbage
	// collector cannot see.
	overflow [][]byte
	// overflows counts them (Overflows; nothing reads it yet).
	overflows uint64
)

const (
	// spareMin is the room every host call that returns data starts with:
	// a header map within Envoy's default limits (60 KiB,
	// max_request_headers_kb, and 100 headers) fits in it.
	spareMin = 64 << 10
	// spareChunk is the size of a new spare, so that a new one is needed
	// only every few hundred requests.
	spareChunk = 256 << 10
)

// reserve makes sure spare has room for n bytes and spareMin more. A large
// n (a configuration, a body) gets memory of its own instead, handed out
// for the next allocation only: kept as the spare, it would stay reachable
// after its data is dropped.
func reserve(n int) {
	if exact && n < len(spare)-spareOff {
		return // ReadInto: the caller's buffer holds it
	}
	if n > spareChunk/2 {
		dedicated = make([]byte, n+1)
		return
	}
	need := max(n, 0) + spareMin
	if len(spare)-spareOff < need {
		spare = make([]byte, max(need, spareChunk))
		spareOff = 0
	}
}

// exact is set while ReadInto runs: the spare is the caller's buffer, and
// the one allocation of the host call may take it whole.
var exact bool

// dedicated is the memory reserve set aside for one large allocation.
var dedicated []byte

// Overflows returns how many times the allocator had to allocate on the Go
// heap because a host call returned more than was set aside for it.
func Overflows() uint64 { return overflows }

// proxyOnMemoryAllocate is how the host obtains guest memory for data it
// returns (header values, shared data, configuration ...).
//
//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) *byte {
	n := int(size)
	if n > spareMin && n < len(dedicated) {
		p := &dedicated[0]
		return p
	}
	if n < len(spare)-spareOff { // strictly less: &spare[spareOff] must exist even for size 0
		p := &spare[spareOff]
		spareOff = min(len(spare), spareOff+(n+7)&^7)
		return p
	}
	overflows++
	buf := make([]byte, max(n, 1))
	overflow = append(overflow, buf)
	return &buf[0]
}

// received turns what the host wrote into a returned-data out-parameter back
// into a Go pointer, and releases the pins of the finished host call. ok is
// false when the address is not memory we handed out (a host bug): the
// caller then reports an internal failure instead of fabricating a pointer
// the garbage collector does not know.
func received(addr, size uint32) (p *byte, ok bool) {
	ok = addr == 0 && size == 0
	if len(spare) > 0 {
		base := uint32(uintptr(unsafe.Pointer(&spare[0])))
		if addr >= base && uint64(addr)+uint64(size) <= uint64(base)+uint64(spareOff) {
			p, ok = &spare[addr-base], true
		}
	}
	if len(dedicated) > 0 {
		base := uint32(uintptr(unsafe.Pointer(&dedicated[0])))
		if addr == base && int(size) < len(dedicated) {
			p, ok = &dedicated[0], true
		}
		dedicated = nil // the view, if any, keeps it alive
	}
	for _, b := range overflow {
		if uint32(uintptr(unsafe.Pointer(&b[0]))) == addr && int(size) <= len(b) {
			p, ok = &b[0], true
			break
		}
	}
	if len(overflow) > 0 {
		clear(overflow)
		overflow = overflow[:0]
	}
	return p, ok
}

// outAddr and outSize receive the out-parameters of the host calls that
// return data. They are package variables, not locals, because a pointer
// handed to a //go:wasmimport function escapes: locals would be allocated on
// every such call. One pair serves every call: the module runs on one
// thread, and host calls do not nest (proxy_on_memory_allocate, which the
// host calls in the middle of one, makes none). They are zero before every
// call, as locals would be (returned zeroes them after reading): a host may
// return empty data without writing them, and a stale address would then
// name a buffer no longer handed out.
var outAddr, outSize uint32

// returned stores a host call's returned data, found in outAddr and outSize,
// into the SDK's out-parameters, and zeroes outAddr and outSize for the next
// call.
func returned(status uint32, retData **byte, retSize *int) uint32 {
	addr, size := outAddr, outSize
	outAddr, outSize = 0, 0
	p, ok := received(addr, size)
	if status != statusOK {
		*retData, *retSize = nil, 0
		return status
	}
	if !ok {
		*retData, *retSize = nil, 0
		return statusInternalFailure
	}
	*retData, *retSize = p, int(size)
	return statusOK
}

// i32 converts an SDK size to the ABI's i32. The SDK passes math.MaxInt32 as
// "to the end" for buffer reads; larger values cannot occur in a 32-bit
// address space and are clamped.
func i32(v int) int32 {
	if v > 1<<31-1 {
		return 1<<31 - 1
	}
	return int32(v)
}

// host implements the SDK's internal.ProxyWasmHost over the env.proxy_*
// imports. See hostabi.go for why its methods use uint32 for the SDK's named
// types.
type host struct{}

func (host) ProxyLog(level uint32, msg *byte, msgSize int) uint32 {
	return imLog(level, msg, i32(msgSize))
}

func (host) ProxySetProperty(path *byte, pathSize int, value *byte, valueSize int) uint32 {
	return imSetProperty(path, i32(pathSize), value, i32(valueSize))
}

func (host) ProxyGetProperty(path *byte, pathSize int, retData **byte, retSize *int) uint32 {
	reserve(0)
	st := imGetProperty(path, i32(pathSize), &outAddr, &outSize)
	return returned(st, retData, retSize)
}

func (host) ProxySendLocalResponse(statusCode uint32, details *byte, detailsSize int, body *byte, bodySize int,
	headers *byte, headersSize int, grpcStatus int32) uint32 {
	return imSendLocalResponse(statusCode, details, i32(detailsSize), body, i32(bodySize),
		headers, i32(headersSize), grpcStatus)
}

func (host) ProxyGetSharedData(key *byte, keySize int, retData **byte, retSize *int, retCas *uint32) uint32 {
	reserve(0)
	st := imGetSharedData(key, i32(keySize), &outAddr, &outSize, retCas)
	return returned(st, retData, retSize)
}

func (host) ProxySetSharedData(key *byte, keySize int, value *byte, valueSize int, cas uint32) uint32 {
	return imSetSharedData(key, i32(keySize), value, i32(valueSize), cas)
}

func (host) ProxyRegisterSharedQueue(name *byte, nameSize int, retID *uint32) uint32 {
	return imRegisterSharedQueue(name, i32(nameSize), retID)
}

func (host) ProxyResolveSharedQueue(vmID *byte, vmIDSize int, name *byte, nameSize int, retID *uint32) uint32 {
	return imResolveSharedQueue(vmID, i32(vmIDSize), name, i32(nameSize), retID)
}

func (host) ProxyDequeueSharedQueue(queueID uint32, retData **byte, retSize *int) uint32 {
	reserve(0)
	st := imDequeueSharedQueue(queueID, &outAddr, &outSize)
	return returned(st, retData, retSize)
}

func (host) ProxyEnqueueSharedQueue(queueID uint32, value *byte, valueSize int) uint32 {
	return imEnqueueSharedQueue(queueID, value, i32(valueSize))
}

func (host) ProxyGetHeaderMapValue(mapType uint32, key *byte, keySize int, retData **byte, retSize *int) uint32 {
	reserve(0)
	st := imGetHeaderMapValue(mapType, key, i32(keySize), &outAddr, &outSize)
	return returned(st, retData, retSize)
}

func (host) ProxyAddHeaderMapValue(mapType uint32, key *byte, keySize int, value *byte, valueSize int) uint32 {
	return imAddHeaderMapValue(mapType, key, i32(keySize), value, i32(valueSize))
}

func (host) ProxyReplaceHeaderMapValue(mapType uint32, key *byte, keySize int, value *byte, valueSize int) uint32 {
	return imReplaceHeaderMapValue(mapType, key, i32(keySize), value, i32(valueSize))
}

func (host) ProxyContinueStream(streamType uint32) uint32 { return imContinueStream(streamType) }

func (host) ProxyCloseStream(streamType uint32) uint32 { return imCloseStream(streamType) }

func (host) ProxyRemoveHeaderMapValue(mapType uint32, key *byte, keySize int) uint32 {
	return imRemoveHeaderMapValue(mapType, key, i32(keySize))
}

func (host) ProxyGetHeaderMapPairs(mapType uint32, retData **byte, retSize *int) uint32 {
	reserve(largestPairs)
	st := imGetHeaderMapPairs(mapType, &outAddr, &outSize)
	largestPairs = max(largestPairs, int(outSize))
	return returned(st, retData, retSize)
}

func (host) ProxySetHeaderMapPairs(mapType uint32, data *byte, size int) uint32 {
	return imSetHeaderMapPairs(mapType, data, i32(size))
}

func (host) ProxyGetBufferBytes(bufferType uint32, start int, maxSize int, retData **byte, retSize *int) uint32 {
	if bufferType < uint32(len(bufferSizes)) {
		reserve(min(bufferSizes[bufferType]-start, maxSize))
	} else {
		reserve(0)
	}
	st := imGetBufferBytes(bufferType, i32(start), i32(maxSize), &outAddr, &outSize)
	return returned(st, retData, retSize)
}

func (host) ProxySetBufferBytes(bufferType uint32, start int, maxSize int, data *byte, size int) uint32 {
	return imSetBufferBytes(bufferType, i32(start), i32(maxSize), data, i32(size))
}

func (host) ProxyHttpCall(upstream *byte, upstreamSize int, headers *byte, headersSize int, body *byte, bodySize int,
	trailers *byte, trailersSize int, timeout uint32, retCalloutID *uint32) uint32 {
	return imHttpCall(upstream, i32(upstreamSize), headers, i32(headersSize), body, i32(bodySize),
		trailers, i32(trailersSize), timeout, retCalloutID)
}

func (host) ProxyCallForeignFunction(name *byte, nameSize int, param *byte, paramSize int, retData **byte, retSize *int) uint32 {
	reserve(0)
	st := imCallForeignFunction(name, i32(nameSize), param, i32(paramSize), &outAddr, &outSize)
	return returned(st, retData, retSize)
}

func (host) ProxySetTickPeriodMilliseconds(period uint32) uint32 {
	return imSetTickPeriodMilliseconds(period)
}

func (host) ProxySetEffectiveContext(contextID uint32) uint32 {
	return imSetEffectiveContext(contextID)
}

func (host) ProxyDone() uint32 { return imDone() }

func (host) ProxyDefineMetric(metricType uint32, name *byte, nameSize int, retID *uint32) uint32 {
	return imDefineMetric(metricType, name, i32(nameSize), retID)
}

func (host) ProxyIncrementMetric(metricID uint32, offset int64) uint32 {
	return imIncrementMetric(metricID, offset)
}

func (host) ProxyRecordMetric(metricID uint32, value uint64) uint32 {
	return imRecordMetric(metricID, value)
}

func (host) ProxyGetMetric(metricID uint32, retValue *uint64) uint32 {
	return imGetMetric(metricID, retValue)
}
