// Package config holds the gateway's configuration file types, loads them with
// koanf (YAML file, then KT_ environment overrides, then flags), applies the
// documented defaults and validates them, reporting every problem with its
// field path.
//
// The types here describe the file only. Runtime objects (HTTP clients,
// breakers, health checkers) are built from them by the packages that own them.
package config

import (
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider/kinds"
)

// Defaults shared by the loader, the validator and the docs.
const (
	DefaultPort                     = 41002
	DefaultHost                     = "127.0.0.1"
	DefaultConfigFile               = "policy-config.yaml"
	DefaultReadHeaderTimeoutSeconds = 10
	DefaultIdleTimeoutSeconds       = 120
	DefaultShutdownTimeoutSeconds   = 30
	DefaultMaxRequestBodyBytes      = 10 << 20 // 10 MiB: room for a few base64 images
	DefaultMaxResponseBodyBytes     = 32 << 20
	DefaultHealthIntervalSeconds    = 30
	DefaultHealthTimeoutSeconds     = 5
	DefaultUnhealthyThreshold       = 3
	DefaultHealthyThreshold         = 2
	DefaultBreakerConsecutiveFails  = 5
	DefaultBreakerOpenSeconds       = 30
	DefaultBreakerHalfOpenRequests  = 1
	DefaultBreakerMaxOpenSeconds    = 300
	DefaultBreakerIntervalSeconds   = 60
	DefaultRetryMaxAttempts         = 1
	DefaultRetryTimeoutSeconds      = 30
	DefaultFirstTokenTimeoutSeconds = 0 // 0: the per-attempt timeout bounds the first token too
	DefaultSameTargetMaxRetries     = 0 // 0: fail over at once, as before same-target retries existed
	DefaultSameTargetBackoffMS      = 250
	DefaultMaxRetryAfterSeconds     = 5
	DefaultOnContextLengthExceeded  = OnContextLengthReturn
	DefaultStreamIdleTimeoutSeconds = 30
	DefaultAnthropicVersion         = "2023-06-01"
	DefaultStrategy                 = StrategyPriority
	DefaultLogFormat                = "text"
	DefaultLogLevel                 = "info"
	DefaultServiceName              = "keeptrusts-gateway"
	DefaultOTLPProtocol             = "http/protobuf"
	DefaultSampleRatio              = 1.0
	DefaultMetricIntervalSeconds    = 60
	DefaultWeight                   = 1
)

// Routing strategies (failover.strategy).
const (
	StrategyPriority = "priority"
	StrategyWeighted = "weighted"
)

// What failover.on_context_length_exceeded does with a 400 saying the prompt
// does not fit the model's context window.
const (
	// OnContextLengthReturn returns that 400 to the client as is.
	OnContextLengthReturn = "return"
	// OnContextLengthFailover moves the request to the next target (with
	// model_mapping), reason context_length.
	OnContextLengthFailover = "failover"
)

// Limits of failover.retry.same_target, so that a typo cannot hold requests
// for minutes.
const (
	MaxSameTargetRetries = 10
	MaxBackoffMS         = 60000
)

// DefaultBaseURL returns the public API base URL of a provider kind, or ""
// when the kind has none (openai_compatible must set base_url) or is
// unknown.
func DefaultBaseURL(provider string) string {
	if k, ok := kinds.Lookup(provider); ok {
		return k.DefaultBaseURL
	}
	return ""
}

// File is the whole configuration file (policy-config.yaml).
type File struct {
	// Version of the file format. Only "1" exists; default "1".
	Version string `koanf:"version"`
	// Server holds listener settings and request limits.
	Server Server `koanf:"server"`
	// Providers lists the upstream targets and, canonically, the failover settings.
	Providers Providers `koanf:"providers"`
	// Failover may stand here instead of under providers (the tutorial's layout
	// is ambiguous); setting both is an error. After Load it is nil and the
	// effective settings are in Providers.Failover.
	Failover *Failover `koanf:"failover"`
	// Routes send each requested model to its own targets (first match
	// wins); see Route. Without routes every model goes over all targets,
	// with failover.model_mapping.
	Routes []Route `koanf:"routes"`
	// Policies are evaluated on every request, in order.
	Policies []Policy `koanf:"policies"`
	// Logging configures the gateway's structured logs.
	Logging Logging `koanf:"logging"`
	// Telemetry configures OpenTelemetry traces, metrics and logs. With
	// nothing set (and no OTEL_* variables) nothing is exported.
	Telemetry Telemetry `koanf:"telemetry"`
	// Events configures the request event log behind kt events tail.
	Events Events `koanf:"events"`
	// Pricing adds or overrides model prices (USD per million tokens) used
	// for each event's cost_usd; keys are model ids (a dated snapshot such as
	// gpt-4o-mini-2024-07-18 is priced by its longest listed prefix).
	Pricing map[string]Price `koanf:"pricing"`
	// Auth configures gateway keys: who may call the gateway, and as which team.
	Auth Auth `koanf:"auth"`
	// Teams sets per-team rate limits and budgets.
	Teams []Team `koanf:"teams"`
	// Admin protects the management endpoints (events API, verbose health,
	// reload).
	Admin Admin `koanf:"admin"`
	// Reload configures hot reload of this file.
	Reload Reload `koanf:"reload"`
}

// Auth configures gateway keys. Off by default: the gateway then accepts
// every request, as the tutorial expects.
type Auth struct {
	// Enabled requires a valid gateway key (Authorization: Bearer <key>) on
	// every model request; default false.
	Enabled bool `koanf:"enabled"`
	// Keys are the accepted gateway keys, each bound to a team.
	Keys []GatewayKey `koanf:"keys"`
}

// GatewayKey is one accepted gateway key. The file holds its hash, or a
// reference to where the key itself is kept; never the key.
type GatewayKey struct {
	// Name identifies the key in events, logs and errors; required, unique.
	Name string `koanf:"name"`
	// Team the key belongs to; required. Limits and budgets are per team.
	Team string `koanf:"team"`
	// Hash is "sha256:<64 hex digits>" of the key (kt keys generate prints it).
	Hash string `koanf:"hash"`
	// KeyRef reads the key from an environment variable or file instead of
	// Hash; it is hashed when loaded. Set Hash or KeyRef, not both.
	KeyRef *SecretKeyRef `koanf:"key_ref"`
}

// Team holds one team's limits. Teams without an entry have none.
type Team struct {
	// ID is the team name the gateway keys refer to; required, unique.
	ID string `koanf:"id"`
	// RateLimit bounds the team's traffic.
	RateLimit RateLimit `koanf:"rate_limit"`
	// Budget bounds the team's spend (from the events' cost_usd).
	Budget Budget `koanf:"budget"`
}

// RateLimit bounds a team's traffic; 0 means unlimited. A whole minute's
// allowance may be used at once; it refills continuously.
type RateLimit struct {
	// RequestsPerMinute bounds model requests.
	RequestsPerMinute float64 `koanf:"requests_per_minute"`
	// TokensPerMinute bounds prompt + completion tokens. Usage is known
	// only when a request ends: a request is admitted while the team's
	// token allowance is not overdrawn, and charged when it ends.
	TokensPerMinute float64 `koanf:"tokens_per_minute"`
}

// Budget bounds a team's spend in USD, per UTC day and UTC month; 0 means
// unlimited. The request that crosses the budget is served; later ones get
// 429 until the period ends.
type Budget struct {
	// DailyUSD is the spend allowed per UTC day.
	DailyUSD float64 `koanf:"daily_usd"`
	// MonthlyUSD is the spend allowed per UTC month.
	MonthlyUSD float64 `koanf:"monthly_usd"`
}

// Admin protects the management endpoints.
type Admin struct {
	// TokenRef says where the admin token is (env or file). When set, the
	// token is required on management endpoints (Authorization: Bearer).
	// When unset, they are open on a loopback bind and refused on any other.
	TokenRef *SecretKeyRef `koanf:"token_ref"`
}

// Reload configures configuration hot reload. SIGHUP and POST
// /admin/reload always reload.
type Reload struct {
	// Watch reloads when the file changes; default true.
	Watch *bool `koanf:"watch"`
}

// WatchEnabled reports whether the file is watched (default true).
func (r Reload) WatchEnabled() bool { return r.Watch == nil || *r.Watch }

// Server configures the HTTP listener.
type Server struct {
	// Host is the address to bind; default 127.0.0.1 (use 0.0.0.0 in containers).
	Host string `koanf:"host"`
	// Port to listen on; default 41002.
	Port int `koanf:"port"`
	// ReadHeaderTimeoutSeconds bounds how long a client may take to send headers; default 10.
	ReadHeaderTimeoutSeconds float64 `koanf:"read_header_timeout_seconds"`
	// IdleTimeoutSeconds closes idle keep-alive connections; default 120.
	IdleTimeoutSeconds float64 `koanf:"idle_timeout_seconds"`
	// ShutdownTimeoutSeconds is how long SIGTERM waits for in-flight requests
	// and streams to finish; default 30.
	ShutdownTimeoutSeconds float64 `koanf:"shutdown_timeout_seconds"`
	// MaxRequestBodyBytes is the largest accepted request body; larger gets 413. Default 10 MiB.
	MaxRequestBodyBytes int64 `koanf:"max_request_body_bytes"`
	// MaxResponseBodyBytes is the largest non-streaming upstream body read; default 32 MiB.
	MaxResponseBodyBytes int64 `koanf:"max_response_body_bytes"`
}

// Providers is the list of upstream targets plus failover settings.
type Providers struct {
	// Targets are the upstreams, in priority order unless priority is set.
	Targets []Target `koanf:"targets"`
	// Failover configures how requests move between targets.
	Failover *Failover `koanf:"failover"`
}

// Target is one upstream provider endpoint.
type Target struct {
	// ID names the target in metadata, events, logs and metrics; required, unique.
	ID string `koanf:"id"`
	// Provider is the provider kind (the wire format and how to reach it):
	// one of pkg/provider/kinds (openai, anthropic, openai_compatible, ...).
	// Required.
	Provider string `koanf:"provider"`
	// BaseURL overrides the provider's public API URL (required for openai_compatible).
	// For openai kinds it includes the version path (https://api.openai.com/v1);
	// for anthropic it is the host root (https://api.anthropic.com).
	BaseURL string `koanf:"base_url"`
	// SecretKeyRef says where the API key comes from. Optional for kinds
	// that need no key (openai_compatible) or authenticate otherwise.
	SecretKeyRef *SecretKeyRef `koanf:"secret_key_ref"`
	// Priority orders targets for the priority strategy, lower first; default =
	// position in the list starting at 1. With either strategy the
	// highest-priority target is the one model_mapping does not apply to.
	Priority int `koanf:"priority"`
	// Weight is the target's share of the weighted strategy's split; default
	// 1; 0 = never picked first (fallback only).
	Weight *int `koanf:"weight"`
	// Models this target serves, listed by GET /v1/models. Optional: without it
	// any requested model is sent as is.
	Models []string `koanf:"models"`
	// Headers are extra static headers sent upstream (e.g. an Azure api-key
	// header name or an OpenAI-Organization). Values are never logged.
	Headers map[string]string `koanf:"headers"`
	// ForwardClientAuth forwards the client's Authorization header upstream
	// instead of the target's own key; default false.
	ForwardClientAuth bool `koanf:"forward_client_auth"`
	// DefaultMaxTokens is sent to providers that require max_tokens
	// (anthropic) when the client sets none; default 4096.
	DefaultMaxTokens int `koanf:"default_max_tokens"`
	// AnthropicVersion is the anthropic-version header; default 2023-06-01.
	// anthropic only.
	AnthropicVersion string `koanf:"anthropic_version"`
	// APIVersion is the api-version query parameter of every request
	// (azure_openai only); default: the kind's.
	APIVersion string `koanf:"api_version"`
	// Deployments maps a requested model to its deployment name
	// (azure_openai only); default none.
	Deployments map[string]string `koanf:"deployments"`
	// Region is the cloud region the endpoint is in (bedrock only);
	// default none.
	Region string `koanf:"region"`
	// Project is the Google Cloud project (vertex only); default none.
	Project string `koanf:"project"`
	// Location is the Google Cloud location, e.g. us-central1 (vertex
	// only); default none.
	Location string `koanf:"location"`
	// Auth chooses how the target authenticates where its kind offers a
	// choice (azure_openai: api_key, the default, or entra).
	Auth string `koanf:"auth"`
	// HealthCheck configures active probing.
	HealthCheck HealthCheck `koanf:"health_check"`
	// CircuitBreaker configures the passive breaker (sony/gobreaker).
	CircuitBreaker CircuitBreaker `koanf:"circuit_breaker"`
	// Capabilities overrides what the gateway assumes the target accepts.
	Capabilities Capabilities `koanf:"capabilities"`
}

// Capabilities are request features a target accepts beyond the common
// ones; unset fields take the provider kind's default.
type Capabilities struct {
	// Prefill: the target continues a conversation whose last message is
	// a partial assistant message, which mid-stream continuation
	// (failover.midstream) sends. Default by kind: anthropic true, except
	// model names known to refuse it (Claude 4.6 and later, e.g.
	// claude-opus-4-6, claude-sonnet-5); openai_compatible true; openai
	// false (OpenAI answers a new turn instead of continuing).
	Prefill *bool `koanf:"prefill"`
	// ResponsesAPI: the target serves OpenAI's Responses API
	// (/v1/responses) itself. Default by kind: true for openai and
	// openai_compatible (requests are passed through); false sends them
	// through the chat translation instead, as for other kinds (stateless
	// requests only). Anthropic targets never serve it natively.
	ResponsesAPI *bool `koanf:"responses_api"`
}

// SecretKeyRef points at a secret without holding it.
type SecretKeyRef struct {
	// Env is the environment variable holding the key.
	Env string `koanf:"env"`
	// File is a path whose content (trimmed) is the key, e.g. a mounted Secret.
	File string `koanf:"file"`
}

// HealthCheck configures a target's active health probe.
type HealthCheck struct {
	// Enabled turns active probing on; default true. When false the target is
	// judged passively, by its circuit breaker only.
	Enabled *bool `koanf:"enabled"`
	// IntervalSeconds between probes; default 30.
	IntervalSeconds float64 `koanf:"interval_seconds"`
	// TimeoutSeconds per probe; default 5.
	TimeoutSeconds float64 `koanf:"timeout_seconds"`
	// UnhealthyThreshold is the number of consecutive failed probes that marks
	// the target unhealthy; default 3.
	UnhealthyThreshold int `koanf:"unhealthy_threshold"`
	// HealthyThreshold is the number of consecutive passing probes that
	// restores it; default 2.
	HealthyThreshold int `koanf:"healthy_threshold"`
}

// IsEnabled reports whether active health checking is on (default true).
func (h HealthCheck) IsEnabled() bool { return h.Enabled == nil || *h.Enabled }

// CircuitBreaker maps onto sony/gobreaker settings.
type CircuitBreaker struct {
	// Enabled turns the breaker on; default true.
	Enabled *bool `koanf:"enabled"`
	// ConsecutiveFailures opens the circuit after this many failures in a row; default 5.
	ConsecutiveFailures int `koanf:"consecutive_failures"`
	// FailureRatio, when > 0, also opens the circuit when this share of
	// requests failed in the current interval (with at least MinRequests).
	FailureRatio float64 `koanf:"failure_ratio"`
	// MinRequests is the minimum number of requests in the interval before
	// FailureRatio applies; default 10.
	MinRequests int `koanf:"min_requests"`
	// IntervalSeconds is the closed-state window after which counts reset; default 60.
	IntervalSeconds float64 `koanf:"interval_seconds"`
	// OpenSeconds is how long the circuit stays open before a trial; default
	// 30. Probed targets go half-open sooner, once healthy_threshold probes
	// passed since the circuit opened.
	OpenSeconds float64 `koanf:"open_seconds"`
	// MaxOpenSeconds caps the open period, which doubles after every failed
	// half-open trial and returns to open_seconds when the circuit closes;
	// default 300 (or open_seconds, when that is longer).
	MaxOpenSeconds float64 `koanf:"max_open_seconds"`
	// HalfOpenRequests is how many trial requests pass while half-open; default 1.
	HalfOpenRequests int `koanf:"half_open_requests"`
}

// IsEnabled reports whether the breaker is on (default true).
func (c CircuitBreaker) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// Failover configures movement between targets.
type Failover struct {
	// Enabled turns failover on; default true. When false only the first
	// available target is tried.
	Enabled *bool `koanf:"enabled"`
	// Strategy picks targets: priority (default: in priority order) or
	// weighted (an A/B split by weight across healthy targets, failing over
	// inside the split).
	Strategy string `koanf:"strategy"`
	// StickyHeader, with the weighted strategy, names a request header (for
	// example X-User-Id) whose value always picks the same target while it
	// is healthy.
	StickyHeader string `koanf:"sticky_header"`
	// ModelMapping maps a requested model to the model used on every target
	// other than the highest-priority one (fallbacks, and the B side of a
	// weighted split).
	ModelMapping map[string]string `koanf:"model_mapping"`
	// AllowModelChange lets model_mapping send an embeddings request to
	// another model on a fallback. Off (the default), lint refuses a
	// mapping of an embedding model and such fallbacks are skipped for
	// embeddings: vectors from two models are not comparable. Routes set it
	// with routes[].allow_model_change.
	AllowModelChange bool `koanf:"allow_model_change"`
	// Retry bounds the attempts.
	Retry Retry `koanf:"retry"`
	// FirstTokenTimeoutSeconds bounds the wait for a stream's first event
	// before failing over (counts as upstream_timeout); default 0 = the
	// per-attempt timeout.
	FirstTokenTimeoutSeconds float64 `koanf:"first_token_timeout_seconds"`
	// RequestTimeoutSeconds bounds the whole request across attempts; default
	// retry.timeout_seconds × (1 + retry.max_attempts). Same-target retries
	// and their waits fit inside it too.
	RequestTimeoutSeconds float64 `koanf:"request_timeout_seconds"`
	// OnContextLengthExceeded is what a 400 saying the prompt does not fit
	// the model's context window leads to: return (default: the client gets
	// the 400 as is) or failover (the next target is tried, with
	// model_mapping, reason context_length; it never counts against the
	// breaker). Content-policy refusals are returned either way.
	OnContextLengthExceeded string `koanf:"on_context_length_exceeded"`
	// StreamIdleTimeoutSeconds is the longest gap allowed between two
	// upstream events of a stream after its first content; a longer one is
	// a stall (upstream_timeout): the upstream is closed and the stream is
	// continued (midstream) or ends with an in-band error. Default 30; 0 =
	// off.
	StreamIdleTimeoutSeconds float64 `koanf:"stream_idle_timeout_seconds"`
	// Midstream configures mid-stream continuation.
	Midstream Midstream `koanf:"midstream"`
	// DropUnsupportedParams says what happens to request fields a target's
	// provider kind cannot take (see the README's parameter table): true
	// (default) drops them on a failover attempt and refuses them (400) on
	// a route's first choice; always drops them on every attempt; false
	// refuses them on every attempt.
	DropUnsupportedParams string `koanf:"drop_unsupported_params"`
	// FanOutN, default true, answers n > 1 on a target that returns one
	// choice per call by making n calls and merging their choices; false
	// skips such targets for such requests.
	FanOutN *bool `koanf:"fan_out_n"`
}

// Midstream configures mid-stream continuation: a stream cut or stalled
// after answer text went out is continued by the next target that accepts
// prefill (providers.targets[].capabilities.prefill), given the text
// already sent as a partial assistant message; the client sees one answer.
// Never after a tool-call delta, never for n > 1.
type Midstream struct {
	// Enabled turns continuation on; default false.
	Enabled bool `koanf:"enabled"`
}

// Values of failover.drop_unsupported_params.
const (
	DropParamsOnFailover = "true"
	DropParamsNever      = "false"
	DropParamsAlways     = "always"
)

// DropParams returns drop_unsupported_params in effect: one of the
// DropParams* values (default DropParamsOnFailover).
func (f Failover) DropParams() string {
	if f.DropUnsupportedParams == "" {
		return DropParamsOnFailover
	}
	return strings.ToLower(strings.TrimSpace(f.DropUnsupportedParams))
}

// FanOutEnabled reports whether n > 1 fans out on single-choice targets
// (default true).
func (f Failover) FanOutEnabled() bool { return f.FanOutN == nil || *f.FanOutN }

// IsEnabled reports whether failover is on (default true).
func (f Failover) IsEnabled() bool { return f.Enabled == nil || *f.Enabled }

// Retry bounds the attempts of one request.
type Retry struct {
	// MaxAttempts is how many fallback targets to try after the first; default 1.
	MaxAttempts *int `koanf:"max_attempts"`
	// TimeoutSeconds bounds each attempt (for a stream: until the response
	// headers and first event); default 30.
	TimeoutSeconds float64 `koanf:"timeout_seconds"`
	// SameTarget retries a transiently failed attempt on its own target
	// before failing over; off by default.
	SameTarget SameTargetRetry `koanf:"same_target"`
}

// SameTargetRetry asks the same target again after a transient failure: a
// connection refused or reset before any byte, a 5xx, a 429, a stream that
// failed before its first event reached the client. Never after another
// 4xx, a timeout (a target that did not answer within timeout_seconds is not
// asked again in the same request), or once content was sent. Every retry is
// an attempt (span, event entry, keeptrusts.retries) and all of them fit in
// request_timeout_seconds.
type SameTargetRetry struct {
	// MaxRetries is how many times one target is asked again within one
	// request; default 0 (fail over at once), at most 10.
	MaxRetries int `koanf:"max_retries"`
	// BackoffMS is the base wait before a retry in milliseconds: the nth
	// retry waits a random time up to backoff_ms × 2^(n-1) (exponential
	// backoff with full jitter); default 250, at most 60000.
	BackoffMS int `koanf:"backoff_ms"`
	// MaxRetryAfterSeconds is the longest Retry-After (on a 429 or 503) that
	// is waited out before the retry, instead of the backoff; a longer one
	// fails over at once and the target cools down for it; default 5.
	MaxRetryAfterSeconds float64 `koanf:"max_retry_after_seconds"`
}

// Policy is one request policy.
type Policy struct {
	// Name identifies the policy in events and headers; required, unique.
	Name string `koanf:"name"`
	// Type of policy: content_filter.
	Type string `koanf:"type"`
	// Action on a hit: flag (default), block or redact.
	Action string `koanf:"action"`
	// Config is type-specific; for content_filter: categories.
	Config PolicyConfig `koanf:"config"`
}

// PolicyConfig holds the type-specific policy settings.
type PolicyConfig struct {
	// Categories for content_filter: hate, violence, self_harm, sexual, harassment.
	Categories []string `koanf:"categories"`
}

// Logging configures logs.
type Logging struct {
	// Format is text (default, reads like the tutorial) or json.
	Format string `koanf:"format"`
	// Level is debug, info (default), warn or error.
	Level string `koanf:"level"`
}

// Telemetry configures OpenTelemetry export. The standard OTEL_* environment
// variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
// OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_SDK_DISABLED, ...) win over
// these settings: they are the operator's override. See docs/telemetry.md.
type Telemetry struct {
	// Enabled turns telemetry on; default true. false, like
	// OTEL_SDK_DISABLED=true, makes every signal a no-op (no /metrics either).
	Enabled *bool `koanf:"enabled"`
	// ServiceName is the service.name resource attribute; default
	// keeptrusts-gateway (OTEL_SERVICE_NAME wins).
	ServiceName string `koanf:"service_name"`
	// Endpoint is the OTLP collector URL, e.g. http://otel-collector:4318
	// (http/protobuf; /v1/traces etc. are appended) or
	// http://otel-collector:4317 (grpc). Default "": traces and metrics are
	// not exported unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_*_EXPORTER say
	// so. An https:// URL uses TLS.
	Endpoint string `koanf:"endpoint"`
	// Protocol is the OTLP transport: http/protobuf (default) or grpc
	// (OTEL_EXPORTER_OTLP_PROTOCOL wins).
	Protocol string `koanf:"protocol"`
	// SampleRatio is the share of new traces recorded, 0 to 1, honouring the
	// caller's sampling decision when a traceparent comes in; default 1
	// (OTEL_TRACES_SAMPLER wins).
	SampleRatio float64 `koanf:"sample_ratio"`
	// MetricIntervalSeconds is how often metrics are pushed over OTLP;
	// default 60 (OTEL_METRIC_EXPORT_INTERVAL wins).
	MetricIntervalSeconds float64 `koanf:"metric_interval_seconds"`
	// ExportLogs also sends the gateway's logs to the OTLP endpoint (through
	// the OTel slog bridge); default false.
	ExportLogs bool `koanf:"export_logs"`
	// TraceProbes records a span per active health probe; default false
	// (probes every few seconds per target would flood the traces).
	TraceProbes bool `koanf:"trace_probes"`
	// Prometheus exposes the metrics for scraping.
	Prometheus Prometheus `koanf:"prometheus"`
}

// IsEnabled reports whether telemetry is on (default true).
func (t Telemetry) IsEnabled() bool { return t.Enabled == nil || *t.Enabled }

// Prometheus configures the scrape endpoint.
type Prometheus struct {
	// Enabled serves the metrics in the Prometheus text format at GET
	// /metrics on the gateway's port; default false.
	Enabled bool `koanf:"enabled"`
}

// Events configures the request event log: one event per client request,
// persisted in an embedded SQLite database so events survive restarts.
type Events struct {
	// Enabled records events; default true.
	Enabled *bool `koanf:"enabled"`
	// Path of the SQLite database; default $XDG_STATE_HOME/keeptrusts/events.db
	// (~/.local/state/keeptrusts/events.db).
	Path string `koanf:"path"`
	// IncludeBodies also stores request and response bodies (prompts and
	// completions); default false.
	IncludeBodies bool `koanf:"include_bodies"`
	// RetentionDays deletes events older than this; default 30.
	RetentionDays float64 `koanf:"retention_days"`
	// MaxEvents keeps at most this many events, newest first; default 1000000.
	MaxEvents int `koanf:"max_events"`
}

// IsEnabled reports whether events are recorded (default true).
func (e Events) IsEnabled() bool { return e.Enabled == nil || *e.Enabled }

// Price is a model's price in USD per million tokens.
type Price struct {
	// InputPerMTok prices prompt tokens not read from a cache.
	InputPerMTok float64 `koanf:"input_per_mtok"`
	// OutputPerMTok prices completion tokens.
	OutputPerMTok float64 `koanf:"output_per_mtok"`
	// CacheReadPerMTok prices prompt tokens read from a cache; default: the input price.
	CacheReadPerMTok float64 `koanf:"cache_read_per_mtok"`
	// CacheWritePerMTok prices prompt tokens written to a cache; default: the input price.
	CacheWritePerMTok float64 `koanf:"cache_write_per_mtok"`
}
