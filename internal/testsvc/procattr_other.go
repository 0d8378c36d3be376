//go:build !linux

package testsvc

import "syscall"

// childProcAttr: only Linux can tie a child's life to its parent's; the
// test's cleanup stops the server elsewhere.
func childProcAttr() *syscall.SysProcAttr { return nil }
