//go:build !linux

package bench

import "syscall"

// childSysProcAttr has nothing to add off Linux, where the harness cannot
// read /proc anyway.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
