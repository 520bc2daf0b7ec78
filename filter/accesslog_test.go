package main

import (
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/vmtest"
)

// TestDecisionLinesKept sends denials of different paths one after the
// other and then reads the log: each request has its own line, as it was
// written. In the module every line is written into the same buffer
// (accesslog_mem_wasip1.go), which a host may do nothing with after
// proxy_log returns but copy.
func TestDecisionLinesKept(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, testConfig(t, k, nil))
		defer e.close()
		paths := []string{"/v1/orders/1", "/v1/orders/22222222222222", "/v1/files/333"}
		before := len(e.warnLogs())
		for _, p := range paths {
			if o := e.do(p, [2]string{"x-api-key", k.unknown}); o.status() != 401 {
				t.Fatalf("%s: status %d, want 401", p, o.status())
			}
		}
		lines := e.warnLogs()[before:]
		if len(lines) != len(paths) {
			t.Fatalf("%d lines for %d denials: %q", len(lines), len(paths), lines)
		}
		for i, p := range paths {
			if !strings.Contains(lines[i], `"path":"`+p+`"`) || !strings.HasSuffix(lines[i], "}") {
				t.Errorf("line %d = %q, want the denial of %s", i, lines[i], p)
			}
		}
	})
}
