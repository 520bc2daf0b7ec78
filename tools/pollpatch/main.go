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
// runtime/os_wasip1.go's usleep, the runtime's other poll_oneoff caller,
// throws "wasi_snapshot_preview1.poll_oneoff" on any error; the patch makes
// it return at once on ENOSYS and ENOTSUP (a sleep that does not sleep: its
// callers are back-off loops). With one P and no sysmon, as on wasip1, the
// runtime reaches usleep only on its way to a crash (freezetheworld when a
// throw stops the world), where the patch keeps the original message from
// being replaced by a second throw.
//
// # The collector's slices
//
// Two more patches size the collector's background work for a VM with one
// thread, where it runs on the thread that serves requests, in the gaps the
// filter leaves it (the bridge's yieldToRuntime), and holds that thread for
// as long as one piece of it lasts. Measured at 100k keys under steady
// traffic in cpphost, they held one request for 0.6 to 1.5 ms:
//
//   - mgcmark.go's drainCheckThreshold (100,000 units of scan work) is how
//     much the *fractional* mark worker, the only one with GOMAXPROCS=1,
//     marks between two checks of whether it has had its share (25 %) of
//     the time since marking began. Go's wasm code marks 100,000 units in
//     about half a millisecond, so a slice could not be shorter. The patch
//     checks every 2,000 units (gcCreditSlack, the finest step at which
//     gcDrain checks at all; a check reads the clock, one host call).
//   - mgcscavenge.go's minScavWorkTime (1 ms) is the least the background
//     scavenger works each time it wakes. On wasm the scavenger cannot
//     return memory (sysUnusedOS is empty: linear memory never shrinks), so
//     the patch shortens its turns to 50 us.
//
// Usage:
//
//	go run ./tools/pollpatch -out build/overlay
//
// writes the patched runtime files (netpoll_wasip1.go.txt, os_wasip1.go.txt,
// mgcmark.go.txt, mgcscavenge.go.txt) and build/overlay/overlay.json for the
// toolchain that runs it (go env GOROOT). The overlay is used only by the
// GOOS=wasip1 builds, so the patches change nothing else.
// It fails loudly when a runtime source no longer has the shape its patch
// expects, so a new toolchain is looked at rather than silently left
// unpatched; a file whose toolchain already tolerates ENOSYS (it mentions
// _ENOSYS) is left out of the overlay.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// goEnvGOROOT returns the GOROOT of the go command on PATH (go test puts
// its own toolchain first there; the Makefile passes -goroot).
func goEnvGOROOT() (string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func main() {
	out := flag.String("out", "build/overlay", "directory for the patched file and overlay.json")
	goroot := flag.String("goroot", "", "GOROOT of the toolchain that builds the filter (default: go env GOROOT)")
	flag.Parse()
	if *goroot == "" {
		root, err := goEnvGOROOT()
		if err != nil {
			fmt.Fprintln(os.Stderr, "pollpatch:", err)
			os.Exit(1)
		}
		*goroot = root
	}
	if err := run(*goroot, *out); err != nil {
		fmt.Fprintln(os.Stderr, "pollpatch:", err)
		os.Exit(1)
	}
}

// A patch is one runtime file's change: anchor, which must occur exactly
// once, is replaced by replacement.
type patch struct {
	file        string // in $GOROOT/src/runtime
	anchor      []byte
	replacement []byte
	// whyRefused says what to review when the anchor is not found.
	whyRefused string
	// done, when set, marks a runtime that needs no patch (the file is
	// then left out of the overlay).
	done []byte
}

// netpollAnchor is the error check in netpoll(), inside "if errno != 0 {".
const netpollAnchor = "\t\tif errno != _EINTR {\n\t\t\tprintln(\"errno=\", errno, \" len(pollsubs)=\", len(pollsubs))\n\t\t\tthrow(\"poll_oneoff failed\")"

// usleepAnchor is the error check that ends usleep().
const usleepAnchor = "\tif poll_oneoff(&in, &out, 1, &nevents) != 0 {\n\t\tthrow(\"wasi_snapshot_preview1.poll_oneoff\")\n\t}\n}\n"

var patches = []patch{
	{
		file:   "netpoll_wasip1.go",
		anchor: []byte(netpollAnchor),
		replacement: []byte("\t\t// apiguard (tools/pollpatch): a host without poll_oneoff\n" +
			"\t\t// (ENOSYS 52, ENOTSUP 58) is answered as \"no events\"; see golang/go#78513.\n" +
			"\t\tif errno == 52 || errno == 58 {\n" +
			"\t\t\tunlock(&mtx)\n" +
			"\t\t\treturn gList{}, 0\n" +
			"\t\t}\n" + netpollAnchor),
		whyRefused: "runtime/netpoll_wasip1.go no longer has the poll_oneoff error check this patch expects; review golang/go#78513 and update tools/pollpatch",
		done:       marker,
	},
	{
		file:   "os_wasip1.go",
		anchor: []byte(usleepAnchor),
		replacement: []byte("\t// apiguard (tools/pollpatch): a host without poll_oneoff\n" +
			"\t// (ENOSYS 52, ENOTSUP 58) makes usleep return at once; see golang/go#78513.\n" +
			"\tif errno := poll_oneoff(&in, &out, 1, &nevents); errno == 52 || errno == 58 {\n" +
			"\t\treturn\n" +
			"\t} else if errno != 0 {\n" +
			"\t\tthrow(\"wasi_snapshot_preview1.poll_oneoff\")\n" +
			"\t}\n}\n"),
		whyRefused: "runtime/os_wasip1.go's usleep no longer has the poll_oneoff error check this patch expects; review golang/go#78513 and update tools/pollpatch",
		done:       marker,
	},
	{
		file:   "mgcmark.go",
		anchor: []byte(drainCheckAnchor),
		replacement: []byte("\t// apiguard (tools/pollpatch): a check every gcCreditSlack units, so\n" +
			"\t// that the fractional worker's slices on a one-thread wasm VM end\n" +
			"\t// soon after its share of the time is used.\n" +
			"\tdrainCheckThreshold = 2000\n"),
		whyRefused: "runtime/mgcmark.go no longer declares drainCheckThreshold = 100000; review gcDrain's self-preemption check and update tools/pollpatch",
	},
	{
		file:   "mgcscavenge.go",
		anchor: []byte(scavWorkAnchor),
		replacement: []byte("\t// apiguard (tools/pollpatch): short turns; on wasm the scavenger\n" +
			"\t// cannot return memory, and each turn holds the only thread.\n" +
			"\tminScavWorkTime = 50e3\n"),
		whyRefused: "runtime/mgcscavenge.go no longer declares minScavWorkTime = 1e6; review the scavenger's pacing and update tools/pollpatch",
	},
}

// drainCheckAnchor and scavWorkAnchor are the two constants the collector's
// patches change.
const (
	drainCheckAnchor = "\tdrainCheckThreshold = 100000\n"
	scavWorkAnchor   = "\tminScavWorkTime = 1e6\n"
)

// marker shows that a runtime file already handles the missing poll_oneoff
// itself.
var marker = []byte("_ENOSYS")

// Patch returns the patched source of netpoll_wasip1.go, or nil when src
// already tolerates ENOSYS.
func Patch(src []byte) ([]byte, error) { return patches[0].apply(src) }

// PatchUsleep returns the patched source of os_wasip1.go, or nil when src
// already tolerates ENOSYS.
func PatchUsleep(src []byte) ([]byte, error) { return patches[1].apply(src) }

// PatchDrainCheck and PatchScavenger return the patched sources of
// mgcmark.go and mgcscavenge.go.
func PatchDrainCheck(src []byte) ([]byte, error) { return patches[2].apply(src) }
func PatchScavenger(src []byte) ([]byte, error)  { return patches[3].apply(src) }

func (p patch) apply(src []byte) ([]byte, error) {
	if p.done != nil && bytes.Contains(src, p.done) {
		return nil, nil
	}
	if bytes.Count(src, p.anchor) != 1 {
		return nil, errors.New(p.whyRefused)
	}
	return bytes.Replace(src, p.anchor, p.replacement, 1), nil
}

func run(goroot, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	replace := map[string]string{}
	for _, p := range patches {
		orig := filepath.Join(goroot, "src", "runtime", p.file)
		src, err := os.ReadFile(orig)
		if err != nil {
			return err
		}
		patched, err := p.apply(src)
		if err != nil {
			return fmt.Errorf("%s: %w", orig, err)
		}
		if patched == nil {
			continue
		}
		// The copies are named *.go.txt: as .go files in the module tree,
		// go vet ./... would read them as a package.
		dst := filepath.Join(abs, p.file+".txt")
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
