package bench

import "syscall"

// childSysProcAttr makes a child die with the harness (a crashed or killed
// harness must not leave a gateway pinned to a core).
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
