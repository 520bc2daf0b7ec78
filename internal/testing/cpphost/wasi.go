package cpphost

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// WASI errno values cpp-host answers with.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
	errnoNoent   = 44
	errnoNosys   = 52
	errnoNotsup  = 58
	errnoNotdir  = 20
)

// randomGetMax is PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES
// (include/proxy-wasm/limits.h).
const randomGetMax = 64 * 1024

// wasiFuncs is cpp-host's WASI functions as src/exports.cc implements them
// (the same for wasi_unstable and wasi_snapshot_preview1), by name, built
// once. Which of them a profile registers is Profile.wasi;
// TestWASIFuncsCoverProfiles checks that each has its model here.
var wasiFuncs = map[string]hostFunc{
	"fd_write":                (*Host).fdWrite,
	"fd_read":                 errno(errnoNosys),
	"fd_prestat_dir_name":     errno(errnoNosys),
	"fd_fdstat_set_flags":     errno(errnoNosys),
	"fd_pread":                errno(errnoNosys),
	"fd_seek":                 contextError("fd_seek"),
	"fd_close":                contextError("fd_close"),
	"proc_exit":               contextError("proc_exit"),
	"fd_fdstat_get":           (*Host).wasiFdFdstatGet,
	"environ_sizes_get":       (*Host).wasiEnvironSizesGet,
	"environ_get":             (*Host).wasiEnvironGet,
	"args_get":                errno(errnoSuccess),
	"args_sizes_get":          (*Host).wasiArgsSizesGet,
	"clock_time_get":          (*Host).wasiClockTimeGet,
	"clock_res_get":           (*Host).wasiClockResGet,
	"random_get":              (*Host).wasiRandomGet,
	"sched_yield":             errno(errnoSuccess),
	"fd_advise":               errno(errnoSuccess),
	"poll_oneoff":             (*Host).wasiPollOneoff,
	"path_open":               errno(errnoNoent),
	"fd_prestat_get":          errno(errnoBadf),
	"fd_filestat_get":         errno(errnoBadf),
	"fd_allocate":             stdio,
	"fd_datasync":             stdio,
	"fd_fdstat_set_rights":    stdio,
	"fd_filestat_set_size":    stdio,
	"fd_filestat_set_times":   stdio,
	"fd_sync":                 stdio,
	"fd_tell":                 stdio,
	"fd_pwrite":               stdio,
	"fd_readdir":              errno(errnoNotdir),
	"fd_renumber":             errno(errnoNotsup),
	"path_create_directory":   errno(errnoNotsup),
	"path_filestat_get":       errno(errnoNotsup),
	"path_filestat_set_times": errno(errnoNotsup),
	"path_link":               errno(errnoNotsup),
	"path_readlink":           errno(errnoNotsup),
	"path_remove_directory":   errno(errnoNotsup),
	"path_rename":             errno(errnoNotsup),
	"path_symlink":            errno(errnoNotsup),
	"path_unlink_file":        errno(errnoNotsup),
	"sock_accept":             errno(errnoNotsup),
	"sock_recv":               errno(errnoNotsup),
	"sock_send":               errno(errnoNotsup),
	"sock_shutdown":           errno(errnoNotsup),
}

// errno is a WASI function that answers e and does nothing else.
func errno(e uint32) hostFunc {
	return func(_ *Host, _ context.Context, _ api.Module, s []uint64) { s[0] = uint64(e) }
}

// stdio answers success for stdout and stderr, EBADF for the rest:
// what #533's fd_allocate, fd_datasync, fd_sync ... do.
func stdio(_ *Host, _ context.Context, _ api.Module, s []uint64) {
	if fd := uint32(s[0]); fd == 1 || fd == 2 {
		s[0] = errnoSuccess
	} else {
		s[0] = errnoBadf
	}
}

// contextError is a WASI function cpp-host answers only by calling
// context->error() (src/exports.cc at beb8a4e: fd_seek and fd_close then
// return 0, proc_exit returns nothing). Envoy's Context::error logs the
// message at trace level and returns (envoyproxy/envoy
// source/extensions/common/wasm/context.cc at b40935a), so the call
// succeeds and the VM goes on; the model logs the message at level 0.
// (cpp-host's own ContextBase::error aborts the process, but Envoy
// overrides it.)
func contextError(name string) hostFunc {
	return func(h *Host, _ context.Context, m api.Module, s []uint64) {
		vm := h.vm(m)
		vm.Logs = append(vm.Logs, Log{Level: 0, Msg: "wasi_unstable " + name})
		if name != "proc_exit" { // proc_exit has no result
			s[0] = errnoSuccess
		}
	}
}

// wasiFdFdstatGet is fd_fdstat_get.
func (h *Host) wasiFdFdstatGet(_ context.Context, m api.Module, s []uint64) {
	if fd := uint32(s[0]); fd != 1 && fd != 2 {
		s[0] = errnoBadf
		return
	}
	// fdstat: filetype 0, flags 0, rights_base FD_WRITE (64), inheriting 0.
	var st [24]byte
	st[8] = 64
	m.Memory().Write(uint32(s[1]), st[:])
	s[0] = errnoSuccess
}

// wasiEnvironSizesGet is environ_sizes_get.
func (h *Host) wasiEnvironSizesGet(_ context.Context, m api.Module, s []uint64) {
	n, size := 0, 0
	for k, v := range h.opts.Env {
		n++
		size += len(k) + len(v) + 2
	}
	if !m.Memory().WriteUint32Le(uint32(s[0]), uint32(n)) || !m.Memory().WriteUint32Le(uint32(s[1]), uint32(size)) {
		s[0] = errnoFault
		return
	}
	s[0] = errnoSuccess
}

// wasiEnvironGet is environ_get.
func (h *Host) wasiEnvironGet(_ context.Context, m api.Module, s []uint64) {
	array, buf := uint32(s[0]), uint32(s[1])
	for k, v := range h.opts.Env {
		data := []byte(k + "=" + v + "\x00")
		if !m.Memory().WriteUint32Le(array, buf) || !m.Memory().Write(buf, data) {
			s[0] = errnoFault
			return
		}
		array += 4
		buf += uint32(len(data))
	}
	s[0] = errnoSuccess
}

// wasiArgsSizesGet is args_sizes_get.
func (h *Host) wasiArgsSizesGet(_ context.Context, m api.Module, s []uint64) {
	if !m.Memory().WriteUint32Le(uint32(s[0]), 0) || !m.Memory().WriteUint32Le(uint32(s[1]), 0) {
		s[0] = errnoFault
		return
	}
	s[0] = errnoSuccess
}

// wasiClockTimeGet is clock_time_get.
func (h *Host) wasiClockTimeGet(_ context.Context, m api.Module, s []uint64) {
	vm := h.vm(m)
	var t int64
	switch uint32(s[0]) {
	case 0:
		t = vm.walltime()
	case 1:
		t = vm.nanotime()
	default:
		s[0] = errnoNotsup
		return
	}
	if !m.Memory().WriteUint64Le(uint32(s[2]), uint64(t)) {
		s[0] = errnoFault
		return
	}
	s[0] = errnoSuccess
}

// wasiClockResGet is clock_res_get.
func (h *Host) wasiClockResGet(_ context.Context, m api.Module, s []uint64) {
	if id := uint32(s[0]); id != 0 && id != 1 {
		s[0] = errnoNotsup
		return
	}
	if !m.Memory().WriteUint64Le(uint32(s[1]), 1) {
		s[0] = errnoFault
		return
	}
	s[0] = errnoSuccess
}

// wasiRandomGet is random_get.
func (h *Host) wasiRandomGet(_ context.Context, m api.Module, s []uint64) {
	n := uint32(s[1])
	if n > randomGetMax {
		s[0] = errnoInval
		return
	}
	b := make([]byte, n)
	rand.Read(b)
	if !m.Memory().Write(uint32(s[0]), b) {
		s[0] = errnoFault
		return
	}
	s[0] = errnoSuccess
}

// wasiPollOneoff is poll_oneoff.
func (h *Host) wasiPollOneoff(_ context.Context, m api.Module, s []uint64) {
	h.PollOneoffCalls.Add(1)
	if e := h.profile.pollOneoffErrno; e != 0 {
		s[0] = uint64(e)
		return
	}
	if !m.Memory().WriteUint32Le(uint32(s[3]), 0) {
		s[0] = errnoFault
		return
	}
	s[0] = errnoSuccess
}

// fdWrite is cpp-host's writevImpl: stdout is logged at info, stderr at
// error, any other descriptor is EBADF; one trailing newline is dropped.
func (h *Host) fdWrite(_ context.Context, m api.Module, s []uint64) {
	fd, iovs, n := uint32(s[0]), uint32(s[1]), uint32(s[2])
	level := 0
	switch fd {
	case 1:
		level = 2
	case 2:
		level = 4
	default:
		s[0] = errnoBadf
		return
	}
	var out []byte
	for i := range n {
		ptr, ok1 := m.Memory().ReadUint32Le(iovs + 8*i)
		size, ok2 := m.Memory().ReadUint32Le(iovs + 8*i + 4)
		if !ok1 || !ok2 {
			s[0] = errnoFault
			return
		}
		b, ok := m.Memory().Read(ptr, size)
		if !ok {
			s[0] = errnoFault
			return
		}
		out = append(out, b...)
	}
	if h.opts.Output != nil {
		h.opts.Output.Write(out)
	}
	written := len(out)
	if written > 0 {
		msg := out
		if msg[len(msg)-1] == '\n' {
			msg = msg[:len(msg)-1]
		}
		vm := h.vm(m)
		vm.Logs = append(vm.Logs, Log{Level: level, Msg: string(msg)})
	}
	if !m.Memory().WriteUint32Le(uint32(s[3]), uint32(written)) {
		s[0] = errnoFault
		return
	}
	s[0] = errnoSuccess
}

// fakeEpoch is where a VM's wall clock starts without RealClock, as
// wazero's fake clock does.
var fakeEpoch = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// walltime and nanotime are the VM's clocks: the host's with RealClock,
// otherwise deterministic ones that advance 1 ms at every reading.
func (vm *VM) walltime() int64 {
	if vm.host.opts.RealClock {
		return time.Now().UnixNano()
	}
	vm.fakeWall += int64(time.Millisecond)
	return fakeEpoch + vm.fakeWall
}

func (vm *VM) nanotime() int64 {
	if vm.host.opts.RealClock {
		return time.Since(vm.host.born).Nanoseconds()
	}
	vm.fakeMono += int64(time.Millisecond)
	return vm.fakeMono
}

func msDuration(ms uint32) time.Duration { return time.Duration(ms) * time.Millisecond }
