package config

import (
	"fmt"
	"io"
	"strings"

	"github.com/keeptrusts/gateway/pkg/auth"
)

// Lint writes the report of `kt policy lint`: every problem, errors first,
// one per line; then, when there is no error, a summary of the effective
// configuration (targets by priority, failover, policies), otherwise the
// error and warning counts. It reports ok when there is no error. The
// summary names secret variables and files, never their contents.
func Lint(w io.Writer, path string, f *File, ps Problems) (ok bool) {
	var b strings.Builder
	errs, warns := ps.Errors(), ps.Warnings()
	for _, p := range errs {
		b.WriteString(p.String() + "\n")
	}
	for _, p := range warns {
		b.WriteString(p.String() + "\n")
	}
	ok = len(errs) == 0 && f != nil
	switch {
	case len(errs) > 0:
		fmt.Fprintf(&b, "%s: %s, %s\n", path, plural(len(errs), "error", "errors"), plural(len(warns), "warning", "warnings"))
	case f == nil:
		fmt.Fprintf(&b, "%s: no configuration loaded\n", path)
	default:
		summarize(&b, path, f, len(warns))
	}
	_, _ = io.WriteString(w, b.String())
	return ok
}

// summarize writes the "valid" block of the lint report.
func summarize(b *strings.Builder, path string, f *File, warnings int) {
	ts := f.Providers.Targets
	counts := plural(len(ts), "target", "targets") + ", " + plural(len(f.Policies), "policy", "policies")
	if warnings > 0 {
		counts += ", " + plural(warnings, "warning", "warnings")
	}
	fmt.Fprintf(b, "%s: valid (%s)\n", path, counts)
	fmt.Fprintf(b, "  server %s:%d\n", clean(f.Server.Host), f.Server.Port)

	weighted := f.Providers.Failover != nil && f.Providers.Failover.Strategy == StrategyWeighted
	var rows [][]string
	for _, i := range priorityOrder(ts) {
		t := ts[i]
		prio := fmt.Sprintf("priority=%d", t.Priority)
		if weighted && t.Weight != nil {
			prio += fmt.Sprintf(" weight=%d", *t.Weight)
		}
		rows = append(rows, []string{
			"target " + clean(t.ID),
			"provider=" + t.Provider,
			prio,
			healthSummary(t.HealthCheck),
			breakerSummary(t.CircuitBreaker),
			"key=" + keySummary(t),
			"base_url=" + clean(t.BaseURL) + kindSummary(t),
		})
	}
	writeAligned(b, rows)

	if fo := f.Providers.Failover; fo != nil {
		if fo.IsEnabled() {
			attempts := 0
			if fo.Retry.MaxAttempts != nil {
				attempts = *fo.Retry.MaxAttempts
			}
			sticky := ""
			if weighted && fo.StickyHeader != "" {
				sticky = " sticky_header=" + fo.StickyHeader
			}
			// Options at their defaults stay out of the line, which reads as
			// it did before they existed.
			extra := ""
			if st := fo.Retry.SameTarget; st.MaxRetries > 0 {
				extra += fmt.Sprintf(" same_target_retries=%d backoff_ms=%d max_retry_after=%ss", st.MaxRetries, st.BackoffMS, num(st.MaxRetryAfterSeconds))
			}
			if fo.OnContextLengthExceeded == OnContextLengthFailover {
				extra += " on_context_length_exceeded=failover"
			}
			fmt.Fprintf(b, "  failover: enabled strategy=%s%s max_attempts=%d timeout=%ss request_timeout=%ss model_mappings=%d%s\n",
				fo.Strategy, sticky, attempts, num(fo.Retry.TimeoutSeconds), num(fo.RequestTimeoutSeconds), len(fo.ModelMapping), extra)
			// Only when set apart from the defaults: the tutorial's report
			// stays as documented.
			if fo.Midstream.Enabled || fo.StreamIdleTimeoutSeconds != DefaultStreamIdleTimeoutSeconds {
				fmt.Fprintf(b, "  streams: idle_timeout=%ss midstream=%t\n", num(fo.StreamIdleTimeoutSeconds), fo.Midstream.Enabled)
			}
		} else {
			b.WriteString("  failover: disabled\n")
		}
	}
	routeSummary(b, f)
	for _, p := range f.Policies {
		fmt.Fprintf(b, "  policy %s: %s action=%s categories=%s\n", clean(p.Name), p.Type, p.Action, strings.Join(p.Config.Categories, ","))
	}
	fmt.Fprintf(b, "  logging: format=%s level=%s\n", f.Logging.Format, f.Logging.Level)
	b.WriteString("  telemetry: " + telemetrySummary(f.Telemetry) + "\n")
	if f.Events.IsEnabled() {
		path := f.Events.Path
		if path == "" {
			path = "default state dir"
		}
		fmt.Fprintf(b, "  events: enabled path=%s retention_days=%s max_events=%d include_bodies=%t\n",
			clean(path), num(f.Events.RetentionDays), f.Events.MaxEvents, f.Events.IncludeBodies)
	} else {
		b.WriteString("  events: disabled\n")
	}
	if len(f.Pricing) > 0 {
		fmt.Fprintf(b, "  pricing: %d model override(s)\n", len(f.Pricing))
	}
	accessSummary(b, f)
}

// accessSummary writes the auth, team and admin lines: key names, teams and
// where secrets come from, never a hash or a secret.
func accessSummary(b *strings.Builder, f *File) {
	if f.Auth.Enabled {
		fmt.Fprintf(b, "  auth: enabled keys=%d\n", len(f.Auth.Keys))
		var rows [][]string
		for _, k := range f.Auth.Keys {
			rows = append(rows, []string{"key " + clean(k.Name), "team=" + clean(k.Team), "from=" + gatewayKeySource(k)})
		}
		writeAligned(b, rows)
	} else {
		b.WriteString("  auth: disabled (requests need no gateway key)\n")
	}
	for _, t := range f.Teams {
		fmt.Fprintf(b, "  team %s: requests_per_minute=%s tokens_per_minute=%s daily_usd=%s monthly_usd=%s\n", clean(t.ID),
			limit(t.RateLimit.RequestsPerMinute), limit(t.RateLimit.TokensPerMinute), limit(t.Budget.DailyUSD), limit(t.Budget.MonthlyUSD))
	}
	switch {
	case f.Admin.TokenRef != nil:
		b.WriteString("  admin: token required (" + refSummary(f.Admin.TokenRef) + ")\n")
	case auth.IsLoopback(f.Server.Host):
		b.WriteString("  admin: open on loopback (no token)\n")
	default:
		b.WriteString("  admin: management endpoints refused (no token on a non-loopback bind)\n")
	}
	if f.Reload.WatchEnabled() {
		b.WriteString("  reload: SIGHUP, POST /admin/reload, file watch\n")
	} else {
		b.WriteString("  reload: SIGHUP, POST /admin/reload\n")
	}
}

func limit(f float64) string {
	if f == 0 {
		return "unlimited"
	}
	return num(f)
}

// gatewayKeySource says where a gateway key's hash comes from.
func gatewayKeySource(k GatewayKey) string {
	if k.Hash != "" {
		return "hash"
	}
	return refSummary(k.KeyRef)
}

// refSummary names a secret's variable or file.
func refSummary(r *SecretKeyRef) string {
	switch {
	case r == nil:
		return "none"
	case r.Env != "":
		return "env:" + r.Env
	case r.File != "":
		return "file:" + clean(r.File)
	}
	return "none"
}

// telemetrySummary describes the file's telemetry settings; OTEL_*
// variables may still change them at run time, which lint cannot see.
func telemetrySummary(t Telemetry) string {
	if !t.IsEnabled() {
		return "disabled"
	}
	endpoint := "none"
	if t.Endpoint != "" {
		endpoint = clean(t.Endpoint) + " protocol=" + t.Protocol
	}
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	return fmt.Sprintf("endpoint=%s service=%s sample_ratio=%s export_logs=%s prometheus=%s trace_probes=%s",
		endpoint, clean(t.ServiceName), num(t.SampleRatio), onOff(t.ExportLogs), onOff(t.Prometheus.Enabled), onOff(t.TraceProbes))
}

func healthSummary(h HealthCheck) string {
	if !h.IsEnabled() {
		return "health_check=disabled"
	}
	return fmt.Sprintf("health_check=enabled interval=%ss timeout=%ss unhealthy_threshold=%d healthy_threshold=%d",
		num(h.IntervalSeconds), num(h.TimeoutSeconds), h.UnhealthyThreshold, h.HealthyThreshold)
}

func breakerSummary(c CircuitBreaker) string {
	if !c.IsEnabled() {
		return "circuit_breaker=disabled"
	}
	s := fmt.Sprintf("circuit_breaker=%d failures/%ss", c.ConsecutiveFailures, num(c.OpenSeconds))
	if c.FailureRatio > 0 {
		s += fmt.Sprintf(" ratio=%s of >=%d", num(c.FailureRatio), c.MinRequests)
	}
	return s
}

// keySummary says where a target's key comes from, by name only.
func keySummary(t Target) string {
	switch {
	case t.ForwardClientAuth:
		return "client"
	}
	return refSummary(t.SecretKeyRef)
}

// writeAligned writes rows indented by two spaces with every column but
// the last padded to its widest cell.
func writeAligned(b *strings.Builder, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		line.WriteString("  ")
		for i, c := range r {
			line.WriteString(c)
			if i < len(r)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-len(c)+2))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}
