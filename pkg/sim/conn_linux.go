package sim

import (
	"context"
	"net"
	"syscall"
	"time"
	"unsafe"
)

// waitSent waits until the kernel has no unacknowledged data for c (SIOCOUTQ),
// because a close with SO_LINGER 0 discards whatever is still queued.
func waitSent(ctx context.Context, c *net.TCPConn, wait time.Duration) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	pollSent(ctx, wait, func() (int, bool) {
		var n int32
		var errno syscall.Errno
		cerr := raw.Control(func(fd uintptr) {
			_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TIOCOUTQ), uintptr(unsafe.Pointer(&n)))
		})
		if cerr != nil || errno != 0 {
			return 0, false
		}
		return int(n), true
	})
}

// pollSent polls until pending reports nothing left or the wait ends.
func pollSent(ctx context.Context, wait time.Duration, pending func() (int, bool)) {
	deadline := time.Now().Add(wait)
	for {
		n, ok := pending()
		if !ok || n == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
