// Package bench is ktbench, the gateway's load harness: in one run it
// measures, side by side and interleaved, calling a fast local upstream
// directly, through a bare net/http/httputil.ReverseProxy, and through the
// kt gateway, so that what the gateway adds can be read as ratios against
// the floor of any Go proxy measured in the same minutes on the same
// machine. Absolute numbers on shared machines are noisy; ratios within a
// rep much less so.
//
// # Processes
//
// The harness starts, as separate processes, the upstream (a pre-rendered
// mock by default, or pkg/sim with -upstream sim), the reverse proxy, and
// one `kt gateway run` per configuration: the base one and the variants
// (dead primary with its breaker open, OTLP export to an in-process sink,
// events off, a content filter). The upstream and the proxy are ktbench
// itself re-executed with a hidden subcommand. With two CPUs or more and
// taskset, the targets run on CPU 1 and the load generator and upstream on
// CPU 0, all at the harness's niceness. Every child gets SIGKILL if the
// harness dies (Linux), and is stopped by pid when it ends.
//
// # Measurement
//
// Load is a closed loop: a fixed number of workers on keep-alive
// connections each send a request and read the whole answer before the
// next, for a warm-up and then a fixed window, with a request cap. Every
// latency is kept and sorted, so percentiles are exact (nearest rank).
// Failures are transport errors, non-200 statuses, bodies without
// "chat.completion", and streams without a "data: [DONE]" line; a stream's
// TTFB is its first "data:" line. The target's CPU is utime+stime from
// /proc/<pid>/stat over the window, in clock ticks (getconf CLK_TCK, else
// 100); its RSS is VmRSS after each point. CPU used outside the harness
// during the window is reported as a contamination indicator.
//
// # Generated configurations
//
// Each kt configuration is linted with `kt policy lint` first; a variant
// whose configuration does not lint (a section this kt does not know yet)
// is skipped with lint's reason instead of failing the run.
package bench
