package cpphost

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/wasmvm"
)

// TestPollOneoffENOSYS reproduces golang/go#78513 and proves the build's
// mitigation (tools/pollpatch). Against a host whose poll_oneoff returns
// ENOSYS (the Envoy133 profile), a module whose runtime poller has been initialised — here by a
// runtime timer, in production also by the GC scavenger's sleep — aborts
// with "fatal error: poll_oneoff failed" at its next garbage collection when
// built with the stock runtime, and keeps serving when built with the
// patched runtime that apiguard ships with.
func TestPollOneoffENOSYS(t *testing.T) {
	for _, tc := range []struct {
		fixture   string
		config    string
		wantCrash bool
	}{
		{"timer-stock.wasm", "arm_timer", true},
		// Without the fixture's timer the GC scavenger's own sleep
		// initialises the poller: the stock runtime dies all the same, as
		// it would in Envoy 1.33-1.38, here soon after the fixture's first
		// 16 MB spike (request 500), which gives the scavenger work.
		{"timer-stock.wasm", "", true},
		{"timer-patched.wasm", "", false},
		{"timer-patched.wasm", "arm_timer", false},
	} {
		t.Run(tc.fixture+"/"+tc.config, func(t *testing.T) {
			var out bytes.Buffer
			h, err := New(context.Background(), fixture(t, tc.fixture), Options{Profile: Envoy133, Output: &out,
				Env: map[string]string{"GOGC": "10"}})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			vm, err := h.NewVM([]byte(tc.config))
			if err != nil {
				t.Fatal(err)
			}
			const requests = 8000
			crashed, served := false, 0
			for range requests {
				if _, err := vm.Request([][2]string{{":method", "GET"}, {":path", "/"}}); err != nil {
					crashed = true
					break
				}
				served++
			}
			t.Logf("served %d requests, poll_oneoff called %d times", served, h.PollOneoffCalls.Load())
			if crashed != tc.wantCrash {
				t.Fatalf("crashed=%v, want %v; module output:\n%s", crashed, tc.wantCrash, tail(out.String()))
			}
			if tc.wantCrash && !strings.Contains(out.String(), "poll_oneoff failed") {
				t.Fatalf("crashed for another reason:\n%s", tail(out.String()))
			}
			if h.PollOneoffCalls.Load() == 0 {
				t.Fatal("poll_oneoff was never called: the test no longer exercises the poller")
			}
		})
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// fixture returns the module build/fixtures/name, which make test builds.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("-short (make check): needs build/fixtures/, which make test builds")
	}
	wasm, err := wasmvm.Fixture(".", name)
	if err != nil {
		t.Fatalf("%v: run make test (it builds the fixtures)", err)
	}
	return wasm
}
