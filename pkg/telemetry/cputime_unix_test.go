//go:build unix

package telemetry

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time this process has used so far, so
// that benchmarks can report CPU per request rather than only wall time,
// which on a shared machine says more about the neighbours than the code.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
