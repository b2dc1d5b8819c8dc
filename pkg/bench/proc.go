package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// defaultClockTicks is USER_HZ on every mainstream Linux build; it is used
// when getconf is missing.
const defaultClockTicks = 100

// clockTicks returns the kernel's clock ticks per second (the unit of
// utime/stime in /proc), from `getconf CLK_TCK`, else defaultClockTicks.
func clockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return defaultClockTicks
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || n <= 0 {
		return defaultClockTicks
	}
	return n
}

// parseStatTicks returns utime+stime (fields 14 and 15, in clock ticks) from
// the content of /proc/<pid>/stat. The command name (field 2) may hold spaces
// and parentheses, so fields are counted from the last ')'.
func parseStatTicks(b []byte) (int64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	// After ')': state is field 3, so utime (14) and stime (15) are the
	// 12th and 13th fields of the rest.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	ut, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	st, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return ut + st, nil
}

// parseVmRSS returns VmRSS in KiB from the content of /proc/<pid>/status.
func parseVmRSS(b []byte) (int64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			return 0, errors.New("empty VmRSS")
		}
		if len(f) > 1 && f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS unit %q, want kB", f[1])
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: %w", err)
		}
		return n, nil
	}
	return 0, errors.New("no VmRSS line (kernel thread or zombie)")
}

// parseStatusField returns the value of a "Name:\tvalue" line of
// /proc/<pid>/status, "" when absent.
func parseStatusField(b []byte, name string) string {
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// parseSystemBusyTicks returns the busy ticks of the whole machine (user,
// nice, system, irq, softirq, steal) from the content of /proc/stat.
func parseSystemBusyTicks(b []byte) (int64, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("first line is not the cpu total")
	}
	var sum int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("field %d: %w", i, err)
		}
		sum += n
	}
	return sum, nil
}

// procCPU returns the CPU time a process has used so far.
func procCPU(pid int, ticks int64) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read stat: %w", err)
	}
	t, err := parseStatTicks(b)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return ticksToDuration(t, ticks), nil
}

// procRSS returns a process's resident set size in KiB.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	n, err := parseVmRSS(b)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%d/status: %w", pid, err)
	}
	return n, nil
}

// procCPUs returns the CPUs a process may run on (Cpus_allowed_list).
func procCPUs(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ""
	}
	return parseStatusField(b, "Cpus_allowed_list")
}

// systemBusy returns the CPU time the whole machine has been busy.
func systemBusy(ticks int64) (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	t, err := parseSystemBusyTicks(b)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/stat: %w", err)
	}
	return ticksToDuration(t, ticks), nil
}

func ticksToDuration(t, perSecond int64) time.Duration {
	return time.Duration(t) * time.Second / time.Duration(perSecond)
}

// cpuMeter measures the CPU each harness process (the target included)
// used over a window, and what the rest of the machine used meanwhile: a
// contamination indicator, since other builds and tests share these
// machines.
type cpuMeter struct {
	ticks int64
	pids  []int // every process of the harness: this one, the upstream, the targets

	c0    map[int]time.Duration
	s0    time.Duration
	start time.Time

	// Results, valid after end: per-pid CPU over the window (a pid whose
	// /proc could not be read at both ends is missing) and the CPU used
	// outside the harness in % of one core (NaN when unknown).
	used  map[int]time.Duration
	bgPct float64
}

func (m *cpuMeter) sample() (map[int]time.Duration, time.Duration) {
	c := make(map[int]time.Duration, len(m.pids))
	for _, pid := range m.pids {
		if v, err := procCPU(pid, m.ticks); err == nil {
			c[pid] = v
		}
	}
	s, err := systemBusy(m.ticks)
	if err != nil {
		s = -1
	}
	return c, s
}

func (m *cpuMeter) begin() {
	m.start = time.Now()
	m.c0, m.s0 = m.sample()
}

func (m *cpuMeter) end() {
	c1, s1 := m.sample()
	win := time.Since(m.start)
	m.used = make(map[int]time.Duration, len(c1))
	var harness time.Duration
	for pid, v := range c1 {
		if v0, ok := m.c0[pid]; ok {
			m.used[pid] = v - v0
			harness += v - v0
		}
	}
	m.bgPct = math.NaN()
	if m.s0 >= 0 && s1 >= 0 && win > 0 {
		bg := max((s1-m.s0)-harness, 0)
		m.bgPct = 100 * bg.Seconds() / win.Seconds()
	}
}
