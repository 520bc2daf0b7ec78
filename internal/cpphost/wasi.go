package cpphost

import (
	"context"
	"crypto/rand"
	"fmt"
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

// wasiFunc returns cpp-host's WASI function name as src/exports.cc
// implements it (the same for wasi_unstable and wasi_snapshot_preview1).
// Stack values are the function's parameters; results go to s[0].
func (h *Host) wasiFunc(name string) api.GoModuleFunc {
	errno := func(e uint32) api.GoModuleFunc {
		return func(_ context.Context, _ api.Module, s []uint64) { s[0] = uint64(e) }
	}
	// stdio answers success for stdout and stderr, EBADF for the rest:
	// what #533's fd_allocate, fd_datasync, fd_sync ... do.
	stdio := func(_ context.Context, _ api.Module, s []uint64) {
		if fd := uint32(s[0]); fd == 1 || fd == 2 {
			s[0] = errnoSuccess
		} else {
			s[0] = errnoBadf
		}
	}
	switch name {
	case "fd_write":
		return h.fdWrite
	case "fd_read", "fd_prestat_dir_name", "fd_fdstat_set_flags", "fd_pread":
		return errno(errnoNosys)
	case "fd_seek", "fd_close", "proc_exit":
		// cpp-host calls context->error(), which aborts the VM.
		return func(_ context.Context, m api.Module, s []uint64) {
			panic(&trapError{fmt.Sprintf("wasi_unstable %s (cpp-host calls context->error)", name)})
		}
	case "fd_fdstat_get":
		return func(_ context.Context, m api.Module, s []uint64) {
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
	case "environ_sizes_get":
		return func(_ context.Context, m api.Module, s []uint64) {
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
	case "environ_get":
		return func(_ context.Context, m api.Module, s []uint64) {
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
	case "args_get":
		return errno(errnoSuccess)
	case "args_sizes_get":
		return func(_ context.Context, m api.Module, s []uint64) {
			if !m.Memory().WriteUint32Le(uint32(s[0]), 0) || !m.Memory().WriteUint32Le(uint32(s[1]), 0) {
				s[0] = errnoFault
				return
			}
			s[0] = errnoSuccess
		}
	case "clock_time_get":
		return func(_ context.Context, m api.Module, s []uint64) {
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
	case "clock_res_get":
		return func(_ context.Context, m api.Module, s []uint64) {
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
	case "random_get":
		return func(_ context.Context, m api.Module, s []uint64) {
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
	case "sched_yield", "fd_advise":
		return errno(errnoSuccess)
	case "poll_oneoff":
		return func(_ context.Context, m api.Module, s []uint64) {
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
	case "path_open":
		return errno(errnoNoent)
	case "fd_prestat_get", "fd_filestat_get":
		return errno(errnoBadf)
	case "fd_allocate", "fd_datasync", "fd_fdstat_set_rights", "fd_filestat_set_size",
		"fd_filestat_set_times", "fd_sync", "fd_tell", "fd_pwrite":
		return stdio
	case "fd_readdir":
		return errno(errnoNotdir)
	case "fd_renumber", "path_create_directory", "path_filestat_get", "path_filestat_set_times",
		"path_link", "path_readlink", "path_remove_directory", "path_rename", "path_symlink",
		"path_unlink_file", "sock_accept", "sock_recv", "sock_send", "sock_shutdown":
		return errno(errnoNotsup)
	}
	return nil
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
