package quotatest

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the kernel kill the process if the test binary dies
// without its cleanups (a panic, a -timeout), so that no Redis or service
// outlives a test run.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
