package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseStatTicks(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr string
	}{
		// The fixture's command name holds a space and parentheses, which a
		// naive split on spaces gets wrong.
		{name: "fixture", in: string(readFixture(t, "proc-pid-stat.txt")), want: 1234 + 567},
		{name: "minimal", in: "1 (a) S 0 0 0 0 0 0 0 0 0 0 10 20", want: 30},
		{name: "no command name", in: "1 a S 0", wantErr: "no command name"},
		{name: "truncated", in: "1 (a) S 0 0 0", wantErr: "fields after the command name"},
		{name: "bad utime", in: "1 (a) S 0 0 0 0 0 0 0 0 0 0 x 20", wantErr: "utime"},
		{name: "bad stime", in: "1 (a) S 0 0 0 0 0 0 0 0 0 0 10 y", wantErr: "stime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatTicks([]byte(tt.in))
			checkParse(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr string
	}{
		{name: "fixture", in: string(readFixture(t, "proc-pid-status.txt")), want: 17612},
		{name: "no VmRSS (kernel thread)", in: "Name:\tkthreadd\nState:\tS (sleeping)\n", wantErr: "no VmRSS"},
		{name: "empty value", in: "VmRSS:\n", wantErr: "empty VmRSS"},
		{name: "other unit", in: "VmRSS:\t12 MB\n", wantErr: "unit"},
		{name: "not a number", in: "VmRSS:\tlots kB\n", wantErr: "VmRSS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.in))
			checkParse(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestParseStatusField(t *testing.T) {
	b := readFixture(t, "proc-pid-status.txt")
	for name, want := range map[string]string{"Cpus_allowed_list": "1", "Name": "kt", "Cpus_allowed": "2", "NoSuchField": ""} {
		if got := parseStatusField(b, name); got != want {
			t.Errorf("parseStatusField(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestParseSystemBusyTicks(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr string
	}{
		// user + nice + system + irq + softirq + steal; idle and iowait are
		// not busy.
		{name: "fixture", in: string(readFixture(t, "proc-stat.txt")), want: 260931 + 12 + 50261 + 3 + 691 + 6095},
		{name: "per-cpu line first", in: "cpu0 1 2 3 4 5 6 7 8\n", wantErr: "not the cpu total"},
		{name: "short", in: "cpu 1 2 3\n", wantErr: "not the cpu total"},
		{name: "bad field", in: "cpu 1 2 x 4 5 6 7 8\n", wantErr: "field 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSystemBusyTicks([]byte(tt.in))
			checkParse(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func checkParse(t *testing.T, got int64, err error, want int64, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got %d, want %d", got, want)
	}
}

func TestTicksToDuration(t *testing.T) {
	if got := ticksToDuration(250, 100); got != 2500*time.Millisecond {
		t.Errorf("250 ticks at 100/s = %v, want 2.5s", got)
	}
	if got := ticksToDuration(3, 1000); got != 3*time.Millisecond {
		t.Errorf("3 ticks at 1000/s = %v, want 3ms", got)
	}
}

// TestProcSelf reads this process's own /proc files: the parsers agree
// with the running kernel, not only with the fixtures.
func TestProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	pid := os.Getpid()
	if _, err := procCPU(pid, clockTicks()); err != nil {
		t.Error(err)
	}
	if rss, err := procRSS(pid); err != nil || rss <= 0 {
		t.Errorf("procRSS = %d, %v; want a positive size", rss, err)
	}
	if _, err := systemBusy(clockTicks()); err != nil {
		t.Error(err)
	}
	if _, err := niceness(); err != nil {
		t.Error(err)
	}
}

func FuzzProcParsers(f *testing.F) {
	for _, name := range []string{"proc-pid-stat.txt", "proc-pid-status.txt", "proc-stat.txt"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("1 ((( S )"))
	f.Add([]byte("VmRSS:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Whatever /proc holds, the parsers answer or fail; they never
		// panic, and a successful parse used the fields asked for.
		if n, err := parseStatTicks(b); err == nil && !strings.Contains(string(b), ")") {
			t.Errorf("parsed %d from a stat line without a command name", n)
		}
		if _, err := parseVmRSS(b); err == nil && !strings.Contains(string(b), "VmRSS:") {
			t.Error("parsed VmRSS from a status without one")
		}
		if _, err := parseSystemBusyTicks(b); err == nil && !strings.Contains(string(b), "cpu") {
			t.Error("parsed a cpu total from a line that is not one")
		}
	})
}
