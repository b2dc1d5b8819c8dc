package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/kinds"
)

var (
	idPattern        = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	modelNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$`)
	envNamePattern   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

const (
	maxIDLength        = 64
	maxModelNameLength = 256
	validCategories    = "hate, violence, self_harm, sexual or harassment"
)

// validator collects every problem of a decoded, defaulted File.
type validator struct {
	raw          rawTree
	environ      []string
	failoverPath string
	// suppress holds paths that already failed to decode: their zero
	// values would only produce a second, misleading problem.
	suppress []string
	// hasRoutes is set when the file has routes: the implicit route over
	// every target (and its model_mapping) is not used.
	hasRoutes bool
	problems  Problems
}

func (v *validator) add(sev Severity, path, format string, args ...any) {
	for _, s := range v.suppress {
		if under(path, s) {
			return
		}
	}
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...), Severity: sev})
}

// under reports whether path is prefix itself or a field or element inside it.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+".") || strings.HasPrefix(path, prefix+"[")
}

// failed reports whether anything at or inside path failed to decode, so
// that warnings about its absence would be noise.
func (v *validator) failed(path string) bool {
	for _, s := range v.suppress {
		if under(s, path) {
			return true
		}
	}
	return false
}

func (v *validator) errorf(path, format string, args ...any) { v.add(Error, path, format, args...) }
func (v *validator) warnf(path, format string, args ...any)  { v.add(Warning, path, format, args...) }

// positive reports a number that must be greater than zero.
func (v *validator) positive(path string, n float64) {
	if !(n > 0) {
		v.errorf(path, "must be greater than 0 (got %s)", num(n))
	}
}

// atLeast reports an integer below min.
func (v *validator) atLeast(path string, n, min int) {
	if n < min {
		v.errorf(path, "must be at least %d (got %d)", min, n)
	}
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func (v *validator) file(f *File) {
	if f.Version != "1" {
		v.errorf("version", "unsupported version %s (want \"1\")", quote(f.Version))
	}
	v.hasRoutes = len(f.Routes) > 0
	v.server(f.Server)
	v.targets(f.Providers.Targets)
	v.failover(f.Providers.Failover, f.Providers.Targets)
	v.routes(f)
	v.policies(f.Policies)
	v.logging(f.Logging)
	v.telemetry(f.Telemetry)
	v.events(f.Events)
	v.pricing(f.Pricing)
	v.auth(f)
	v.teams(f)
	v.admin(f)
}

func (v *validator) events(e Events) {
	v.positive("events.retention_days", e.RetentionDays)
	v.atLeast("events.max_events", e.MaxEvents, 1)
	if strings.ContainsRune(e.Path, 0) {
		v.errorf("events.path", "contains a NUL byte")
	}
	if e.IncludeBodies {
		v.warnf("events.include_bodies", "stores prompts and completions in the event store; make sure that is allowed")
	}
}

func (v *validator) pricing(ps map[string]Price) {
	for _, model := range sortedKeys(ps) {
		p := ps[model]
		path := fmt.Sprintf("pricing[%s]", quote(model))
		if !validModelName(model) {
			v.errorf(path, "%s is not a valid model name", quote(model))
		}
		// A slice, not a map: problems are reported in a stable order.
		for _, f := range []struct {
			field string
			val   float64
		}{
			{"input_per_mtok", p.InputPerMTok}, {"output_per_mtok", p.OutputPerMTok},
			{"cache_read_per_mtok", p.CacheReadPerMTok}, {"cache_write_per_mtok", p.CacheWritePerMTok},
		} {
			if f.val < 0 {
				v.errorf(path+"."+f.field, "must be 0 or greater (got %s)", num(f.val))
			}
		}
	}
}

func (v *validator) server(s Server) {
	if s.Port < 0 || s.Port > 65535 {
		v.errorf("server.port", "%d is out of range (1-65535, or 0 for any free port)", s.Port)
	}
	if h := strings.TrimSpace(s.Host); h == "" {
		v.errorf("server.host", "must not be empty (use 127.0.0.1, or 0.0.0.0 to listen on all interfaces)")
	} else if strings.Contains(h, "/") || strings.ContainsAny(h, " \t") {
		v.errorf("server.host", "want an address such as 127.0.0.1 or 0.0.0.0, got %s", quote(s.Host))
	}
	v.positive("server.read_header_timeout_seconds", s.ReadHeaderTimeoutSeconds)
	v.positive("server.idle_timeout_seconds", s.IdleTimeoutSeconds)
	v.positive("server.shutdown_timeout_seconds", s.ShutdownTimeoutSeconds)
	if s.MaxRequestBodyBytes <= 0 {
		v.errorf("server.max_request_body_bytes", "must be greater than 0 (got %d)", s.MaxRequestBodyBytes)
	}
	if s.MaxResponseBodyBytes <= 0 {
		v.errorf("server.max_response_body_bytes", "must be greater than 0 (got %d)", s.MaxResponseBodyBytes)
	}
}

func (v *validator) targets(ts []Target) {
	if len(ts) == 0 {
		v.errorf("providers.targets", "at least one target is required")
		return
	}
	ids := map[string]int{}
	priorities := map[int]int{}
	for i, t := range ts {
		p := fmt.Sprintf("providers.targets[%d]", i)
		if t.ID != "" {
			if first, dup := ids[t.ID]; dup {
				v.errorf(p+".id", "duplicate id %s (already used by providers.targets[%d])", quote(t.ID), first)
			} else {
				ids[t.ID] = i
			}
		}
		v.target(p, t)
		if t.Priority >= 0 {
			if first, dup := priorities[t.Priority]; dup {
				v.warnf(p+".priority", "priority %d is also used by providers.targets[%d]; the one listed first is tried first", t.Priority, first)
			} else {
				priorities[t.Priority] = i
			}
		}
	}
}

func (v *validator) target(p string, t Target) {
	switch {
	case t.ID == "":
		v.errorf(p+".id", "required")
	case len(t.ID) > maxIDLength || !idPattern.MatchString(t.ID):
		v.errorf(p+".id", "%s is not a valid id (up to %d lowercase letters, digits, '-', '_' or '.', starting with a letter or digit)", quote(t.ID), maxIDLength)
	}

	kind, known := kinds.Lookup(t.Provider)
	switch {
	case known:
	case t.Provider == "":
		v.errorf(p+".provider", "required (want %s)", validProviders())
	default:
		v.errorf(p+".provider", "unknown provider %s (want %s)", quote(t.Provider), validProviders())
	}

	if t.BaseURL == "" {
		if known && kind.BaseURLRequired {
			v.errorf(p+".base_url", "required for %s targets", kind.Name)
		}
	} else if msg := checkBaseURL(t.BaseURL); msg != "" {
		v.errorf(p+".base_url", "%s", msg)
	}
	if known {
		v.kindFields(p, t, kind)
	}

	v.secretRef(p, t, kind)

	if t.Priority < 0 {
		v.errorf(p+".priority", "must be 0 or greater (got %d)", t.Priority)
	}
	if t.Weight != nil && *t.Weight < 0 {
		v.errorf(p+".weight", "must be 0 or greater (got %d; 0 = fallback only)", *t.Weight)
	}
	for j, m := range t.Models {
		if !validModelName(m) {
			v.errorf(fmt.Sprintf("%s.models[%d]", p, j), "%s is not a valid model name", quote(m))
		}
	}
	v.headers(p+".headers", t.Headers)

	if t.DefaultMaxTokens < 0 || (known && kind.DefaultMaxTokens > 0 && t.DefaultMaxTokens < 1) {
		v.errorf(p+".default_max_tokens", "must be at least 1 (got %d)", t.DefaultMaxTokens)
	}

	h := t.HealthCheck
	hp := p + ".health_check"
	v.positive(hp+".interval_seconds", h.IntervalSeconds)
	v.positive(hp+".timeout_seconds", h.TimeoutSeconds)
	if h.IntervalSeconds > 0 && h.TimeoutSeconds > h.IntervalSeconds {
		v.warnf(hp+".timeout_seconds", "%ss is longer than interval_seconds (%ss): probes will overlap", num(h.TimeoutSeconds), num(h.IntervalSeconds))
	}
	v.atLeast(hp+".unhealthy_threshold", h.UnhealthyThreshold, 1)
	v.atLeast(hp+".healthy_threshold", h.HealthyThreshold, 1)

	c := t.CircuitBreaker
	cp := p + ".circuit_breaker"
	v.atLeast(cp+".consecutive_failures", c.ConsecutiveFailures, 1)
	if !(c.FailureRatio >= 0 && c.FailureRatio <= 1) {
		v.errorf(cp+".failure_ratio", "must be between 0 and 1 (got %s)", num(c.FailureRatio))
	}
	v.atLeast(cp+".min_requests", c.MinRequests, 0)
	if !(c.IntervalSeconds >= 0) {
		v.errorf(cp+".interval_seconds", "must be 0 (never reset) or greater (got %s)", num(c.IntervalSeconds))
	}
	v.positive(cp+".open_seconds", c.OpenSeconds)
	v.positive(cp+".max_open_seconds", c.MaxOpenSeconds)
	if c.MaxOpenSeconds > 0 && c.MaxOpenSeconds < c.OpenSeconds {
		v.warnf(cp+".max_open_seconds", "%ss is below open_seconds (%ss): the open period never grows after a failed trial", num(c.MaxOpenSeconds), num(c.OpenSeconds))
	}
	v.atLeast(cp+".half_open_requests", c.HalfOpenRequests, 1)
}

// checkBaseURL returns why a base URL is unusable, or "".
func checkBaseURL(s string) string {
	return checkHTTPURL(s, "use secret_key_ref or headers", "")
}

// checkHTTPURL returns why s is not a usable absolute http(s) URL without
// query or fragment, or "". Messages never include userinfo: a
// user:password@ in a URL is a credential; credHint says where it belongs.
func checkHTTPURL(s, credHint, example string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			// Parse errors quote fragments of the input, which here may
			// come from a password.
			return "is not a valid URL"
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "is not a valid URL: " + err.Error()
	}
	if u.User != nil {
		return "must not contain credentials (user:password@); " + credHint
	}
	shown := quote(u.String())
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%s must start with http:// or https://%s", shown, example)
	case u.Host == "":
		return fmt.Sprintf("%s has no host", shown)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Sprintf("%s must not have a query string", shown)
	case u.Fragment != "":
		return fmt.Sprintf("%s must not have a fragment", shown)
	}
	return ""
}

func validModelName(s string) bool {
	return len(s) <= maxModelNameLength && modelNamePattern.MatchString(s)
}

// secretRef checks where a target's key comes from.
func (v *validator) secretRef(p string, t Target, kind *provider.Kind) {
	sp := p + ".secret_key_ref"
	if t.SecretKeyRef == nil {
		if v.failed(sp) {
			return
		}
		if kind != nil && kind.KeyRequired && !t.ForwardClientAuth {
			v.warnf(sp, "not set: requests to %s will carry no API key (set secret_key_ref.env or forward_client_auth)", targetName(t, p))
		}
		return
	}
	v.ref(sp, t.SecretKeyRef)
}

// ref checks a reference to a secret (an API key, a gateway key, the admin
// token). It looks at whether a variable or file is there, never at what it
// holds.
func (v *validator) ref(sp string, ref *SecretKeyRef) {
	switch {
	case ref.Env != "" && ref.File != "":
		v.errorf(sp, "set env or file, not both")
		return
	case ref.Env == "" && ref.File == "":
		if !v.failed(sp) {
			v.errorf(sp, "set env (a variable name) or file (a path)")
		}
		return
	}
	if ref.Env != "" {
		if !envNamePattern.MatchString(ref.Env) {
			v.errorf(sp+".env", "%s is not a valid environment variable name", quote(ref.Env))
		} else if v.environ != nil {
			if val, ok := lookupEnv(v.environ, ref.Env); !ok {
				v.warnf(sp+".env", "%s is not set", ref.Env)
			} else if strings.TrimSpace(val) == "" {
				v.warnf(sp+".env", "%s is empty", ref.Env)
			}
		}
	}
	if ref.File != "" && v.environ != nil {
		if _, err := os.Stat(ref.File); err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			v.warnf(sp+".file", "cannot read %s: %v", clean(ref.File), err)
		}
	}
}

func targetName(t Target, path string) string {
	if t.ID != "" {
		return clean(t.ID)
	}
	return path
}

// lookupEnv finds name in an os.Environ-style list; the last entry wins,
// as it does for a process environment built by appending.
func lookupEnv(environ []string, name string) (string, bool) {
	val, found := "", false
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k == name {
			val, found = v, true
		}
	}
	return val, found
}

// forbiddenHeaders are managed by the HTTP client; setting them by hand
// breaks framing or routing.
func forbiddenHeader(name string) bool {
	switch strings.ToLower(name) {
	case "host", "content-length", "transfer-encoding", "connection":
		return true
	}
	return false
}

func (v *validator) headers(p string, h map[string]string) {
	for _, name := range sortedKeys(h) {
		hp := p + "[" + quote(name) + "]"
		switch {
		case !validHeaderName(name):
			v.errorf(hp, "not a valid header name")
		case forbiddenHeader(name):
			v.errorf(hp, "is set by the gateway and cannot be overridden")
		case strings.ContainsAny(h[name], "\r\n\x00"):
			// The value may be a credential: say what is wrong, not what it is.
			v.errorf(hp, "value contains a line break or NUL")
		}
	}
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func (v *validator) failover(fo *Failover, ts []Target) {
	fp := v.failoverPath
	switch fo.Strategy {
	case StrategyPriority:
		if fo.StickyHeader != "" {
			v.warnf(fp+".sticky_header", "is ignored with strategy priority (it applies to weighted)")
		}
	case StrategyWeighted:
		v.weights(ts)
	default:
		v.errorf(fp+".strategy", "unknown strategy %s (want priority or weighted)", quote(fo.Strategy))
	}
	if fo.StickyHeader != "" && !validHeaderName(fo.StickyHeader) {
		v.errorf(fp+".sticky_header", "%s is not a valid header name", quote(fo.StickyHeader))
	}

	attempts := 0
	if fo.Retry.MaxAttempts != nil {
		attempts = *fo.Retry.MaxAttempts
	}
	if attempts < 0 {
		v.errorf(fp+".retry.max_attempts", "must be 0 or greater (got %d; 0 means no fallback)", attempts)
	}
	explicit := v.raw.has(append(rawPrefix(fp), "retry", "max_attempts")...)
	if fo.IsEnabled() && explicit && len(ts) > 1 && attempts > len(ts)-1 {
		v.warnf(fp+".retry.max_attempts", "is %d but only %d fallback target(s) exist", attempts, len(ts)-1)
	}
	v.positive(fp+".retry.timeout_seconds", fo.Retry.TimeoutSeconds)
	v.dropParams(fp+".drop_unsupported_params", fo)
	if !(fo.FirstTokenTimeoutSeconds >= 0) {
		v.errorf(fp+".first_token_timeout_seconds", "must be 0 (use the attempt timeout) or greater (got %s)", num(fo.FirstTokenTimeoutSeconds))
	}
	if !(fo.StreamIdleTimeoutSeconds >= 0) {
		v.errorf(fp+".stream_idle_timeout_seconds", "must be 0 (off) or greater (got %s)", num(fo.StreamIdleTimeoutSeconds))
	}
	if fo.Midstream.Enabled && fo.IsEnabled() && !anyPrefill(ts) {
		v.warnf(fp+".midstream.enabled", "no target accepts prefill (capabilities.prefill): no stream can be continued")
	}
	// A derived request timeout is only as wrong as the retry settings
	// already reported; check it when the user wrote it.
	if v.raw.has(append(rawPrefix(fp), "request_timeout_seconds")...) {
		v.positive(fp+".request_timeout_seconds", fo.RequestTimeoutSeconds)
	}

	v.sameTarget(fp+".retry.same_target", fo)
	switch fo.OnContextLengthExceeded {
	case OnContextLengthReturn:
	case OnContextLengthFailover:
		if !fo.IsEnabled() {
			v.warnf(fp+".on_context_length_exceeded", "is failover but failover is disabled: the 400 is returned")
		}
	default:
		v.errorf(fp+".on_context_length_exceeded", "unknown value %s (want return or failover)", quote(fo.OnContextLengthExceeded))
	}

	for _, k := range sortedKeys(fo.ModelMapping) {
		mp := fp + ".model_mapping[" + quote(k) + "]"
		if !validModelName(k) {
			v.errorf(mp, "key %s is not a valid model name", quote(k))
		}
		if val := fo.ModelMapping[k]; !validModelName(val) {
			v.errorf(mp, "%s is not a valid model name", quote(val))
		} else if val != k && !fo.AllowModelChange && (IsEmbeddingModel(k) || IsEmbeddingModel(val)) {
			v.errorf(mp, "maps the embedding model %s to %s: vectors from two models are not comparable (set %s.allow_model_change: true if that is intended)", quote(k), quote(val), fp)
		}
	}

	if !fo.IsEnabled() {
		return
	}
	if len(ts) == 1 {
		v.warnf(fp, "enabled with a single target: there is nothing to fail over to")
		return
	}
	if v.hasRoutes {
		// Routes name the model per target; model_mapping serves only
		// the implicit route, which routes replace.
		if len(fo.ModelMapping) > 0 {
			v.warnf(fp+".model_mapping", "is not used when routes are set; set the upstream model per route target (routes[].targets[].model)")
		}
		return
	}
	if len(fo.ModelMapping) > 0 || attempts < 1 || len(ts) == 0 || v.failed(fp+".model_mapping") {
		return
	}
	order := priorityOrder(ts)
	primary := ts[order[0]]
	for _, i := range order[1:] {
		t := ts[i]
		if knownProvider(t.Provider) && knownProvider(primary.Provider) && t.Provider != primary.Provider {
			v.warnf(fp+".model_mapping", "is empty: requests will keep the requested model on %s (%s; the primary %s is %s)",
				targetName(t, fmt.Sprintf("providers.targets[%d]", i)), t.Provider, targetName(primary, "providers.targets[0]"), primary.Provider)
		}
	}
}

// sameTarget checks failover.retry.same_target (sp is its path).
func (v *validator) sameTarget(sp string, fo *Failover) {
	st := fo.Retry.SameTarget
	if st.MaxRetries < 0 || st.MaxRetries > MaxSameTargetRetries {
		v.errorf(sp+".max_retries", "must be between 0 and %d (got %d; 0 means no retry)", MaxSameTargetRetries, st.MaxRetries)
	}
	if st.BackoffMS < 0 || st.BackoffMS > MaxBackoffMS {
		v.errorf(sp+".backoff_ms", "must be between 0 and %d (got %d)", MaxBackoffMS, st.BackoffMS)
	}
	if !(st.MaxRetryAfterSeconds >= 0) || math.IsInf(st.MaxRetryAfterSeconds, 0) {
		v.errorf(sp+".max_retry_after_seconds", "must be 0 (never wait for Retry-After) or greater (got %s)", num(st.MaxRetryAfterSeconds))
		return
	}
	if st.MaxRetries > 0 && fo.RequestTimeoutSeconds > 0 && st.MaxRetryAfterSeconds >= fo.RequestTimeoutSeconds {
		v.warnf(sp+".max_retry_after_seconds", "is %s but request_timeout_seconds is %s: a Retry-After that long cannot be waited out within the request and fails over instead",
			num(st.MaxRetryAfterSeconds), num(fo.RequestTimeoutSeconds))
	}
}

func knownProvider(p string) bool {
	_, ok := kinds.Lookup(p)
	return ok
}

// validProviders lists the kinds for an error message: "a, b or c".
func validProviders() string {
	names := kinds.Names()
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// priorityOrder returns target indexes, lowest priority first, ties in list order.
func priorityOrder(ts []Target) []int {
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	// Insertion sort keeps ties in list order; lists are tiny.
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && ts[order[j]].Priority < ts[order[j-1]].Priority; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	return order
}

func (v *validator) policies(ps []Policy) {
	names := map[string]int{}
	for i, pol := range ps {
		p := fmt.Sprintf("policies[%d]", i)
		if pol.Name == "" {
			v.errorf(p+".name", "required")
		} else if first, dup := names[pol.Name]; dup {
			v.errorf(p+".name", "duplicate name %s (already used by policies[%d])", quote(pol.Name), first)
		} else {
			names[pol.Name] = i
		}
		switch pol.Type {
		case "content_filter":
			v.categories(p+".config.categories", pol.Config.Categories)
		case "":
			v.errorf(p+".type", "required (want content_filter)")
		default:
			v.errorf(p+".type", "unknown type %s (want content_filter)", quote(pol.Type))
		}
		switch pol.Action {
		case "flag", "block", "redact":
		default:
			v.errorf(p+".action", "unknown action %s (want flag, block or redact)", quote(pol.Action))
		}
	}
}

func (v *validator) categories(p string, cats []string) {
	if len(cats) == 0 {
		v.errorf(p, "at least one category is required (%s)", validCategories)
		return
	}
	for j, c := range cats {
		switch c {
		case "hate", "violence", "self_harm", "sexual", "harassment":
		default:
			v.errorf(fmt.Sprintf("%s[%d]", p, j), "unknown category %s (want %s)", quote(c), validCategories)
		}
	}
}

func (v *validator) logging(l Logging) {
	switch l.Format {
	case "text", "json":
	default:
		v.errorf("logging.format", "unknown format %s (want text or json)", quote(l.Format))
	}
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		v.errorf("logging.level", "unknown level %s (want debug, info, warn or error)", quote(l.Level))
	}
}

func (v *validator) telemetry(t Telemetry) {
	switch t.Protocol {
	case "grpc", "http/protobuf":
	default:
		v.errorf("telemetry.protocol", "unknown protocol %s (want http/protobuf or grpc)", quote(t.Protocol))
	}
	if t.Endpoint != "" {
		if msg := checkEndpoint(t.Endpoint); msg != "" {
			v.errorf("telemetry.endpoint", "%s", msg)
		}
	} else if t.IsEnabled() && t.ExportLogs {
		v.warnf("telemetry.export_logs", "is set but telemetry.endpoint is empty: logs are exported only if OTEL_EXPORTER_OTLP_ENDPOINT is set")
	}
	if !(t.SampleRatio >= 0 && t.SampleRatio <= 1) {
		v.errorf("telemetry.sample_ratio", "must be between 0 and 1 (got %s)", num(t.SampleRatio))
	}
	v.positive("telemetry.metric_interval_seconds", t.MetricIntervalSeconds)
}

// checkEndpoint returns why an OTLP endpoint is unusable, or "".
func checkEndpoint(s string) string {
	return checkHTTPURL(s, "set OTEL_EXPORTER_OTLP_HEADERS instead", " (e.g. http://otel-collector:4318)")
}

// anyPrefill reports whether a target may accept a continuation: its
// capabilities.prefill is true, or unset on a kind whose default may be.
func anyPrefill(ts []Target) bool {
	for _, t := range ts {
		if p := t.Capabilities.Prefill; p != nil {
			if *p {
				return true
			}
			continue
		}
		if k, ok := kinds.Lookup(t.Provider); ok && k.Prefill {
			return true
		}
	}
	return false
}
