package testsvc

import "syscall"

// childProcAttr makes a server the tests start die with the test binary,
// so a test that panics or times out leaves no redis-server behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
