//go:build !unix

package events

import "time"

// processCPU reports that process CPU time is not measured on this
// platform; benchmarks then report wall-clock figures only.
func processCPU() (time.Duration, bool) { return 0, false }
