package policy

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestCPUPerOp(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tut := newEngine(t, pol("content-filter", "flag", "hate", "violence"))
	all := newEngine(t, pol("flag-all", "flag", allCategories...), pol("block-violence", "block", "violence"))
	red := newEngine(t, pol("redact-all", "redact", allCategories...))
	var b testing.B
	clean := benchBody(&b, userPrompt)
	hits := benchBody(&b, withHits(userPrompt))
	for _, c := range []struct {
		name string
		e    *Engine
		body []byte
	}{{"clean/tutorial", tut, clean}, {"clean/all", all, clean}, {"clean/redact", red, clean}, {"hits/tutorial", tut, hits}, {"hits/all", all, hits}, {"hits/redact", red, hits}} {
		const n = 20000
		best := time.Hour
		for r := 0; r < 5; r++ {
			start := cpuNow()
			for i := 0; i < n; i++ {
				c.e.EvaluateRequest(c.body)
			}
			if d := (cpuNow() - start) / n; d < best {
				best = d
			}
		}
		fmt.Printf("%-16s %d bytes: %v CPU/op\n", c.name, len(c.body), best)
	}
	buf := make([]byte, 0, 4096)
	start := cpuNow()
	for i := 0; i < 20000; i++ {
		buf = buf[:0]
		for j := 0; j < len(userPrompt); j++ {
			c := userPrompt[j]
			if c >= 'A' && c <= 'Z' {
				c += 32
			}
			buf = append(buf, c)
		}
	}
	fmt.Printf("calibration lowercase loop %d bytes: %v CPU/op\n", len(userPrompt), (cpuNow()-start)/20000)
}
