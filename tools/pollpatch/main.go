// Command pollpatch writes a go build -overlay that patches the Go runtime's
// WASI network poller so that a host whose poll_oneoff is not implemented
// cannot crash the module.
//
// Go's runtime/netpoll_wasip1.go throws "poll_oneoff failed" when the host's
// poll_oneoff returns any error but EINTR (golang/go#78513). Once the
// runtime's poller is initialised — by any runtime timer, including the one
// the background scavenger arms when it sleeps — every garbage collection
// polls it. proxy-wasm-cpp-host answered poll_oneoff with ENOSYS/ENOTSUP from
// its PR #427 until PR #533 (Envoy picked #533 up with envoyproxy/envoy#45756),
// so in Envoy releases before that a Go-built filter dies at some GC, often
// after hours of traffic.
//
// The patch treats ENOSYS and ENOTSUP like "no events": the same answer the
// fixed host gives. It changes nothing when the host implements poll_oneoff.
// A reactor never blocks in the poller (proxy-wasm callbacks do not wait on
// timers or file descriptors), so a poll that returns at once is harmless.
//
// Usage:
//
//	go run ./tools/pollpatch -out build/overlay
//
// writes build/overlay/netpoll_wasip1.go and build/overlay/overlay.json for
// the toolchain that runs it (go env GOROOT). It fails loudly when the runtime
// source no longer has the shape the patch expects, so a new toolchain is
// looked at rather than silently left unpatched; when the toolchain already
// tolerates ENOSYS it writes an empty overlay.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

func main() {
	out := flag.String("out", "build/overlay", "directory for the patched file and overlay.json")
	goroot := flag.String("goroot", runtime.GOROOT(), "GOROOT of the toolchain that builds the filter")
	flag.Parse()
	if err := run(*goroot, *out); err != nil {
		fmt.Fprintln(os.Stderr, "pollpatch:", err)
		os.Exit(1)
	}
}

// anchor is the error check in netpoll() that the patch guards.
var anchor = []byte("\t\tif errno != _EINTR {\n\t\t\tprintln(\"errno=\", errno, \" len(pollsubs)=\", len(pollsubs))\n\t\t\tthrow(\"poll_oneoff failed\")")

// guard is inserted before the anchor, inside "if errno != 0 {".
const guard = "\t\t// apiguard (tools/pollpatch): a host without poll_oneoff\n" +
	"\t\t// (ENOSYS 52, ENOTSUP 58) is answered as \"no events\"; see golang/go#78513.\n" +
	"\t\tif errno == 52 || errno == 58 {\n" +
	"\t\t\tunlock(&mtx)\n" +
	"\t\t\treturn gList{}, 0\n" +
	"\t\t}\n"

// marker shows that a runtime already handles the missing poll_oneoff itself.
var marker = []byte("_ENOSYS")

// Patch returns the patched source of netpoll_wasip1.go, or nil when src
// already tolerates ENOSYS.
func Patch(src []byte) ([]byte, error) {
	if bytes.Contains(src, marker) {
		return nil, nil
	}
	if bytes.Count(src, anchor) != 1 {
		return nil, errors.New("runtime/netpoll_wasip1.go no longer has the poll_oneoff error check this patch expects; review golang/go#78513 and update tools/pollpatch")
	}
	return bytes.Replace(src, anchor, append([]byte(guard), anchor...), 1), nil
}

func run(goroot, out string) error {
	orig := filepath.Join(goroot, "src", "runtime", "netpoll_wasip1.go")
	src, err := os.ReadFile(orig)
	if err != nil {
		return err
	}
	patched, err := Patch(src)
	if err != nil {
		return fmt.Errorf("%s: %w", orig, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	replace := map[string]string{}
	if patched != nil {
		dst := filepath.Join(abs, "netpoll_wasip1.go")
		if err := writeIfChanged(dst, patched); err != nil {
			return err
		}
		replace[orig] = dst
	}
	overlay, err := json.MarshalIndent(map[string]any{"Replace": replace}, "", "  ")
	if err != nil {
		return err
	}
	return writeIfChanged(filepath.Join(abs, "overlay.json"), append(overlay, '\n'))
}

// writeIfChanged keeps the file's modification time when its content is the
// same, so make does not rebuild the filter for nothing.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return os.WriteFile(path, data, 0o644)
}
