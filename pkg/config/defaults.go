package config

import (
	"slices"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider/kinds"
)

// DefaultBreakerMinRequests is the circuit breaker's default min_requests:
// the number of requests in an interval before failure_ratio applies.
const DefaultBreakerMinRequests = 10

// applyDefaults fills in every setting the user left out. Numeric settings
// get their default only when the key is absent (raw tells), so an explicit
// 0 survives to be validated instead of being silently replaced — except
// where 0 means something (server.port: 0 is an ephemeral port).
func applyDefaults(f *File, raw rawTree, failoverPath string) {
	if f.Version == "" {
		f.Version = "1"
	}

	s := &f.Server
	if s.Host == "" {
		s.Host = DefaultHost
	}
	if !raw.has("server", "port") {
		s.Port = DefaultPort
	}
	defaultFloat(&s.ReadHeaderTimeoutSeconds, DefaultReadHeaderTimeoutSeconds, raw, "server", "read_header_timeout_seconds")
	defaultFloat(&s.IdleTimeoutSeconds, DefaultIdleTimeoutSeconds, raw, "server", "idle_timeout_seconds")
	defaultFloat(&s.ShutdownTimeoutSeconds, DefaultShutdownTimeoutSeconds, raw, "server", "shutdown_timeout_seconds")
	if !raw.has("server", "max_request_body_bytes") {
		s.MaxRequestBodyBytes = DefaultMaxRequestBodyBytes
	}
	if !raw.has("server", "max_response_body_bytes") {
		s.MaxResponseBodyBytes = DefaultMaxResponseBodyBytes
	}

	for i := range f.Providers.Targets {
		defaultTarget(&f.Providers.Targets[i], i, raw)
	}

	fo := f.Providers.Failover
	fp := rawPrefix(failoverPath)
	if fo.Enabled == nil {
		fo.Enabled = boolPtr(true)
	}
	if fo.Strategy == "" {
		fo.Strategy = DefaultStrategy
	}
	if fo.Retry.MaxAttempts == nil {
		n := DefaultRetryMaxAttempts
		fo.Retry.MaxAttempts = &n
	}
	defaultFloat(&fo.Retry.TimeoutSeconds, DefaultRetryTimeoutSeconds, raw, append(fp, "retry", "timeout_seconds")...)
	defaultFloat(&fo.StreamIdleTimeoutSeconds, DefaultStreamIdleTimeoutSeconds, raw, append(fp, "stream_idle_timeout_seconds")...)
	if !raw.has(append(fp, "request_timeout_seconds")...) {
		fo.RequestTimeoutSeconds = fo.Retry.TimeoutSeconds * float64(1+max(0, *fo.Retry.MaxAttempts))
	}
	st := &fo.Retry.SameTarget
	defaultInt(&st.MaxRetries, DefaultSameTargetMaxRetries, raw, append(fp, "retry", "same_target", "max_retries")...)
	defaultInt(&st.BackoffMS, DefaultSameTargetBackoffMS, raw, append(fp, "retry", "same_target", "backoff_ms")...)
	defaultFloat(&st.MaxRetryAfterSeconds, DefaultMaxRetryAfterSeconds, raw, append(fp, "retry", "same_target", "max_retry_after_seconds")...)
	if fo.OnContextLengthExceeded == "" {
		fo.OnContextLengthExceeded = DefaultOnContextLengthExceeded
	}

	for i := range f.Policies {
		if f.Policies[i].Action == "" {
			f.Policies[i].Action = "flag"
		}
	}

	// Levels and formats come from environment variables as often as from
	// the file; LOG_LEVEL=INFO habits should not be an error.
	f.Logging.Format = strings.ToLower(f.Logging.Format)
	f.Logging.Level = strings.ToLower(f.Logging.Level)
	if f.Logging.Format == "" {
		f.Logging.Format = DefaultLogFormat
	}
	if f.Logging.Level == "" {
		f.Logging.Level = DefaultLogLevel
	}

	tm := &f.Telemetry
	if tm.Enabled == nil {
		tm.Enabled = boolPtr(true)
	}
	tm.ServiceName = strings.TrimSpace(tm.ServiceName)
	if tm.ServiceName == "" {
		tm.ServiceName = DefaultServiceName
	}
	tm.Endpoint = strings.TrimRight(strings.TrimSpace(tm.Endpoint), "/")
	tm.Protocol = strings.ToLower(strings.TrimSpace(tm.Protocol))
	if tm.Protocol == "" {
		tm.Protocol = DefaultOTLPProtocol
	}
	defaultFloat(&tm.SampleRatio, DefaultSampleRatio, raw, "telemetry", "sample_ratio")
	defaultFloat(&tm.MetricIntervalSeconds, DefaultMetricIntervalSeconds, raw, "telemetry", "metric_interval_seconds")

	if f.Reload.Watch == nil {
		f.Reload.Watch = boolPtr(true)
	}
	f.Providers.Failover.StickyHeader = strings.TrimSpace(f.Providers.Failover.StickyHeader)

	ev := &f.Events
	if ev.Enabled == nil {
		ev.Enabled = boolPtr(true)
	}
	defaultFloat(&ev.RetentionDays, DefaultEventRetentionDays, raw, "events", "retention_days")
	defaultInt(&ev.MaxEvents, DefaultMaxEvents, raw, "events", "max_events")
}

// Event log defaults; the path default is resolved by the events package
// ($XDG_STATE_HOME/keeptrusts/events.db) when Events.Path is empty.
const (
	DefaultEventRetentionDays = 30
	DefaultMaxEvents          = 1_000_000
)

// defaultTarget fills in the defaults of the i-th target.
func defaultTarget(t *Target, i int, raw rawTree) {
	tp := []any{"providers", "targets", i}
	at := func(keys ...any) []any { return append(append([]any(nil), tp...), keys...) }

	if !raw.has(at("priority")...) {
		t.Priority = i + 1
	}
	if t.Weight == nil {
		w := DefaultWeight
		t.Weight = &w
	}
	t.BaseURL = strings.TrimRight(strings.TrimSpace(t.BaseURL), "/")
	if t.BaseURL == "" {
		t.BaseURL = DefaultBaseURL(t.Provider)
	}
	if k, ok := kinds.Lookup(t.Provider); ok {
		if k.DefaultMaxTokens > 0 && !raw.has(at("default_max_tokens")...) {
			t.DefaultMaxTokens = k.DefaultMaxTokens
		}
		if t.AnthropicVersion == "" && slices.Contains(k.Fields, "anthropic_version") {
			t.AnthropicVersion = DefaultAnthropicVersion
		}
	}

	h := &t.HealthCheck
	if h.Enabled == nil {
		h.Enabled = boolPtr(true)
	}
	defaultFloat(&h.IntervalSeconds, DefaultHealthIntervalSeconds, raw, at("health_check", "interval_seconds")...)
	defaultFloat(&h.TimeoutSeconds, DefaultHealthTimeoutSeconds, raw, at("health_check", "timeout_seconds")...)
	defaultInt(&h.UnhealthyThreshold, DefaultUnhealthyThreshold, raw, at("health_check", "unhealthy_threshold")...)
	defaultInt(&h.HealthyThreshold, DefaultHealthyThreshold, raw, at("health_check", "healthy_threshold")...)

	c := &t.CircuitBreaker
	if c.Enabled == nil {
		c.Enabled = boolPtr(true)
	}
	defaultInt(&c.ConsecutiveFailures, DefaultBreakerConsecutiveFails, raw, at("circuit_breaker", "consecutive_failures")...)
	defaultInt(&c.MinRequests, DefaultBreakerMinRequests, raw, at("circuit_breaker", "min_requests")...)
	defaultFloat(&c.IntervalSeconds, DefaultBreakerIntervalSeconds, raw, at("circuit_breaker", "interval_seconds")...)
	defaultFloat(&c.OpenSeconds, DefaultBreakerOpenSeconds, raw, at("circuit_breaker", "open_seconds")...)
	defaultInt(&c.HalfOpenRequests, DefaultBreakerHalfOpenRequests, raw, at("circuit_breaker", "half_open_requests")...)
	// A longer open_seconds raises the default cap with it, so that a file
	// written before max_open_seconds existed keeps its meaning and lints clean.
	defaultFloat(&c.MaxOpenSeconds, max(DefaultBreakerMaxOpenSeconds, c.OpenSeconds), raw, at("circuit_breaker", "max_open_seconds")...)
}

// rawPrefix turns a printed section path ("providers.failover") into raw keys.
func rawPrefix(path string) []any {
	var out []any
	for _, p := range strings.Split(path, ".") {
		out = append(out, p)
	}
	return out
}

func defaultFloat(v *float64, def float64, raw rawTree, path ...any) {
	if !raw.has(path...) {
		*v = def
	}
}

func defaultInt(v *int, def int, raw rawTree, path ...any) {
	if !raw.has(path...) {
		*v = def
	}
}

func boolPtr(b bool) *bool { return &b }
