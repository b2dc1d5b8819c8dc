// Package sim is the provider simulator behind `kt sim`: a local HTTP server
// that speaks the OpenAI Chat Completions or the Anthropic Messages wire
// format closely enough (shapes, headers, error bodies, validation, streaming
// events) that gateway tests and failover drills against it mean something.
//
// Endpoints: openai serves POST /v1/chat/completions (Authorization: Bearer),
// the Responses API (POST /v1/responses, with stored responses for GET and
// DELETE /v1/responses/{id} and previous_response_id), POST /v1/embeddings
// (deterministic vectors, see Embedding) and legacy POST /v1/completions;
// anthropic serves POST /v1/messages and /v1/messages/count_tokens
// (the key in x-api-key or as a bearer token, and anthropic-version, which is required as upstream); both
// serve GET /v1/models and /v1/models/{id}. Every model endpoint takes the
// same faults as chat.
// Requests are validated as the providers do in the common cases (unknown
// top-level fields, required fields, ranges, content part and block types,
// tool call / tool result pairing, Anthropic role alternation) and refused
// with the provider's 400 body, so translation bugs show up here first.
//
// Answers are deterministic: a prompt mentioning "capital of France" gets
// "The capital of France is Paris."; anything else "Simulated <kind> answer
// to: <first 60 characters of the last user message>". With tools offered, the
// model calls one (the named tool, or the first) when tool_choice forces it or
// the last user message mentions "weather", with arguments built from the
// tool's schema ({"location":"Paris"} for the usual weather tool); after a
// tool result it answers in text. Stop sequences and max tokens cut the text
// with the provider's finish reason; token counts are about four characters
// each.
//
// Faults (outage, resets, hangs, slow or broken streams, error statuses, rate
// limits, bad keys) are set at start-up (Options.Fault), in code (SetFault) or
// at run time through the admin API (AdminHandler); Server adds the outage
// that needs a listener ("down").
package sim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// Kind is the provider wire format the simulator speaks.
type Kind string

// The supported kinds.
const (
	// KindOpenAI serves POST /v1/chat/completions; its base URL includes /v1.
	KindOpenAI Kind = "openai"
	// KindAnthropic serves POST /v1/messages; its base URL is the host root.
	KindAnthropic Kind = "anthropic"
	// KindAzureOpenAI speaks OpenAI's format on Azure OpenAI's URLs
	// (/openai/deployments/{deployment}/chat/completions?api-version=V,
	// see azure.go); its base URL is the host root.
	KindAzureOpenAI Kind = "azure_openai"
	// KindBedrock serves Amazon Bedrock's POST /model/{id}/converse and
	// /converse-stream and GET /foundation-models; its base URL is the host
	// root. See bedrock.go.
	KindBedrock Kind = "bedrock"
	// KindGemini serves Google's generateContent API in the Gemini API's
	// URL shape (base URL host/v1beta, for the gemini provider kind) and
	// Vertex AI's (base URL the host root with project and location, for
	// the vertex provider kind); see gemini.go.
	KindGemini Kind = "gemini"
)

// ParseKind checks a kind given by a user.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case KindOpenAI, KindAnthropic, KindAzureOpenAI, KindBedrock, KindGemini:
		return k, nil
	}
	return "", fmt.Errorf("unknown simulator kind %q (want openai, anthropic, azure_openai, bedrock or gemini)", s)
}

// maxBodyBytes bounds a request body; larger ones get the provider's 413.
const maxBodyBytes = 32 << 20

// Options configures a Sim.
type Options struct {
	// Kind is the wire format; "" means openai.
	Kind Kind
	// ExpectKey, if non-empty, is the only API key accepted; requests
	// (including GET /v1/models) with another key or none get the provider's
	// 401 body. Empty accepts any key or none. For bedrock it is
	// "ACCESS_KEY_ID:SECRET_ACCESS_KEY": requests must carry a valid SigV4
	// signature made with that key pair (403 otherwise), or the whole
	// ExpectKey as a Bedrock API key (Authorization: Bearer).
	ExpectKey string
	// Models are listed by GET /v1/models. Default per kind: openai
	// gpt-4o-mini, gpt-4o; anthropic claude-sonnet-4-20250514,
	// claude-3-5-haiku-20241022. Chat requests may name any model.
	Models []string
	// Latency is waited before answering a chat request (non-stream) or
	// before its response headers (stream); probes are not delayed. 0
	// answers at once, for benchmarks.
	Latency time.Duration
	// ChunkDelay is waited between stream frames; 0 for none.
	ChunkDelay time.Duration
	// Fault is the initial fault.
	Fault Fault
	// Logger receives one debug record per request; nil discards. Keys and
	// prompts are never logged.
	Logger *slog.Logger
}

// DefaultModels returns the models a kind lists when Options.Models is empty.
func DefaultModels(k Kind) []string {
	switch k {
	case KindAnthropic:
		return []string{"claude-sonnet-4-20250514", "claude-3-5-haiku-20241022"}
	case KindBedrock:
		return []string{"anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-haiku-20241022-v1:0"}
	case KindGemini:
		return []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash", "text-embedding-004"}
	}
	return []string{"gpt-4o-mini", "gpt-4o"}
}

// Stats counts what the simulator saw since it started or since the last
// ResetStats.
type Stats struct {
	// ChatRequests counts model requests (chat, and the kind's other model
	// endpoints: responses, embeddings, completions, count_tokens), valid
	// or not.
	ChatRequests int64 `json:"chat_requests"`
	// StreamRequests counts the chat requests that asked for a stream.
	StreamRequests int64 `json:"stream_requests"`
	// ProbeRequests counts GET /v1/models and GET /v1/models/{id}.
	ProbeRequests int64 `json:"probe_requests"`
	// OtherRequests counts requests to any other path.
	OtherRequests int64 `json:"other_requests"`
	// ByStatus counts responses by the status sent (a reset after a 200
	// counts under 200 and in Resets).
	ByStatus map[int]int64 `json:"by_status"`
	// ByModel counts chat requests by the model asked for.
	ByModel map[string]int64 `json:"by_model"`
	// FaultsApplied counts requests a fault acted on, by kind.
	FaultsApplied map[FaultKind]int64 `json:"faults_applied"`
	// Resets counts connections reset by a fault.
	Resets int64 `json:"resets"`
	// Aborted counts requests that ended without a status, e.g. a client
	// giving up on a hang.
	Aborted int64 `json:"aborted"`
	// InFlight is the number of requests being handled now (not reset by
	// ResetStats).
	InFlight int64 `json:"in_flight"`
	// Models breaks the chat requests down by the model asked for, so that a
	// test can assert the attempts the simulator saw per model.
	Models map[string]ModelStats `json:"models"`
}

// ModelStats counts the chat requests for one model.
type ModelStats struct {
	// Attempts counts the chat requests that named the model, counted when
	// the request arrives (a request held by a hang or stall is already in),
	// valid or not, faulted or not.
	Attempts int64 `json:"attempts"`
	// Streams counts the attempts that asked for a stream.
	Streams int64 `json:"streams"`
	// Prefills counts the attempts whose last message was an assistant
	// message (a prefill, e.g. a mid-stream continuation).
	Prefills int64 `json:"prefills"`
	// ByStatus counts the finished attempts by the status sent.
	ByStatus map[int]int64 `json:"by_status"`
	// FaultsApplied counts the attempts a fault acted on, by kind.
	FaultsApplied map[FaultKind]int64 `json:"faults_applied"`
}

func newStats() Stats {
	return Stats{ByStatus: map[int]int64{}, ByModel: map[string]int64{}, FaultsApplied: map[FaultKind]int64{}, Models: map[string]ModelStats{}}
}

// model returns the counters of model m, creating them. s.mu is held.
func (st *Stats) model(m string) ModelStats {
	ms, ok := st.Models[m]
	if !ok {
		ms = ModelStats{ByStatus: map[int]int64{}, FaultsApplied: map[FaultKind]int64{}}
	}
	return ms
}

// Sim is one simulated provider. Its methods are safe for concurrent use.
type Sim struct {
	kind       Kind
	expectKey  string
	models     []string
	latency    time.Duration
	chunkDelay time.Duration
	log        *slog.Logger

	mu    sync.Mutex
	fault Fault // Count is the remaining count
	// modelFaults are the faults scoped to one model (Fault.Model), which
	// take precedence over fault for that model's chat requests.
	modelFaults map[string]Fault
	stats       Stats
	hooks       map[int]func() error
	hook        int

	// hookMu serialises fault-change hooks so that a Server applies fault
	// changes in the order they were made.
	hookMu   sync.Mutex
	inflight atomic.Int64

	// responses are the stored Responses API answers (store: true).
	responses responseStore
}

// New returns a simulator. It panics on an unknown Kind, a programming error
// (check user input with ParseKind).
func New(opts Options) *Sim {
	if opts.Kind == "" {
		opts.Kind = KindOpenAI
	}
	if _, err := ParseKind(string(opts.Kind)); err != nil {
		panic(fmt.Sprintf("sim: unknown kind %q", opts.Kind))
	}
	models := opts.Models
	if len(models) == 0 {
		models = DefaultModels(opts.Kind)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sim{
		kind:        opts.Kind,
		expectKey:   opts.ExpectKey,
		models:      append([]string(nil), models...),
		latency:     opts.Latency,
		chunkDelay:  opts.ChunkDelay,
		log:         log.With("sim", string(opts.Kind)),
		stats:       newStats(),
		hooks:       map[int]func() error{},
		modelFaults: map[string]Fault{},
	}
	s.putFault(normFault(opts.Fault))
	return s
}

// Kind is the wire format the simulator speaks.
func (s *Sim) Kind() Kind { return s.kind }

// Models are the models GET /v1/models lists.
func (s *Sim) Models() []string { return append([]string(nil), s.models...) }

func normFault(f Fault) Fault {
	if f.Kind == "" {
		f.Kind = FaultNone
	}
	if f.Kind == FaultNone || f.Kind == FaultDown || f.Count < 0 {
		f.Count = 0
	}
	if f.Kind == FaultDown && f.Model != "" {
		// A listener cannot be down for one model; the nearest thing.
		f.Kind = FaultReset
	}
	return f
}

// putFault stores f where its Model says. s.mu is held (or s is new).
func (s *Sim) putFault(f Fault) {
	if f.Model == "" {
		s.fault = f
		return
	}
	s.modelFaults[f.Model] = f
}

// SetFault replaces the simulator-wide fault or, when f.Model is set, that
// model's fault (kind none there means "this model answers normally whatever
// the simulator-wide fault"; ClearModelFault removes it). It does not
// validate (use Fault.Validate on user input); a kind it does not know acts
// like none. Count is ignored for down; down scoped to a model acts as reset.
// A Server started on s opens or closes its API listener before SetFault
// returns; a failure to re-open is logged.
func (s *Sim) SetFault(f Fault) {
	if err := s.setFaults(false, f); err != nil {
		s.log.Error("sim: apply fault", "fault", f.String(), "err", err)
	}
}

// SetFaults replaces every fault at once: the simulator-wide one (the entry
// without Model, none if there is none) and the per-model ones (exactly the
// entries with Model; a later entry for the same model wins).
func (s *Sim) SetFaults(fs ...Fault) {
	if err := s.setFaults(true, fs...); err != nil {
		s.log.Error("sim: apply faults", "err", err)
	}
}

// ClearModelFault removes model's own fault, so that its requests follow the
// simulator-wide fault again.
func (s *Sim) ClearModelFault(model string) {
	s.mu.Lock()
	delete(s.modelFaults, model)
	s.mu.Unlock()
	s.log.Info("sim model fault cleared", "model", model)
}

// setFaults stores the faults (after clearing them all when replace is set)
// and runs the hooks, returning their errors.
func (s *Sim) setFaults(replace bool, fs ...Fault) error {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	s.mu.Lock()
	if replace {
		s.fault = Fault{Kind: FaultNone}
		clear(s.modelFaults)
	}
	for _, f := range fs {
		s.putFault(normFault(f))
	}
	hooks := make([]func() error, 0, len(s.hooks))
	for _, h := range s.hooks {
		hooks = append(hooks, h)
	}
	s.mu.Unlock()
	for _, f := range fs {
		s.log.Info("sim fault set", "fault", f.String())
	}
	var errs []error
	for _, h := range hooks {
		errs = append(errs, h())
	}
	return errors.Join(errs...)
}

// Fault returns the simulator-wide fault; its Count is the remaining count.
func (s *Sim) Fault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

// ModelFault returns model's own fault, if it has one.
func (s *Sim) ModelFault(model string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.modelFaults[model]
	return f, ok
}

// Faults returns every fault: the simulator-wide one first, then the
// per-model ones sorted by model.
func (s *Sim) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, 1+len(s.modelFaults))
	out = append(out, s.fault)
	for _, m := range slices.Sorted(maps.Keys(s.modelFaults)) {
		out = append(out, s.modelFaults[m])
	}
	return out
}

// onFaultChange registers h to run after every SetFault; h reads the current
// fault itself, so that concurrent changes settle on the latest one.
func (s *Sim) onFaultChange(h func() error) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.hook
	s.hook++
	s.hooks[id] = h
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.hooks, id)
	}
}

// take returns the fault that acts on a request of this shape in phase p:
// the model's own fault if it has one, else the simulator-wide one. For chat
// requests it uses up one of that fault's Count, under s.mu, so that a fault
// with Count n acts on exactly n requests however many arrive at once. c is
// the parsed request (nil if it did not parse).
func (s *Sim) take(p phase, model string, probe, stream bool, c *conversation) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, scoped := s.fault, false
	if !probe && model != "" {
		if mf, ok := s.modelFaults[model]; ok {
			f, scoped = mf, true
		}
	}
	if !appliesTo(f.Kind, p, probe, stream) || !f.actsOn(s.kind, c) {
		return Fault{}, false
	}
	if !probe && f.Count > 0 {
		left := f
		left.Count--
		switch {
		case left.Count > 0 && scoped:
			s.modelFaults[model] = left
		case left.Count > 0:
			s.fault = left
		case scoped:
			delete(s.modelFaults, model)
		default:
			// Count never applies to down, so no listener needs re-opening.
			s.fault = Fault{Kind: FaultNone}
		}
	}
	s.stats.FaultsApplied[f.Kind]++
	if model != "" && !probe {
		ms := s.stats.model(model)
		ms.FaultsApplied[f.Kind]++
		s.stats.Models[model] = ms
	}
	return f, true
}

// attempt counts a chat request for a model on arrival.
func (s *Sim) attempt(c *conversation) {
	if c == nil || c.model == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.stats.model(c.model)
	ms.Attempts++
	if c.stream {
		ms.Streams++
	}
	if c.prefilled {
		ms.Prefills++
	}
	s.stats.Models[c.model] = ms
}

// Stats returns a copy of the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	st.ByStatus = maps.Clone(s.stats.ByStatus)
	st.ByModel = maps.Clone(s.stats.ByModel)
	st.FaultsApplied = maps.Clone(s.stats.FaultsApplied)
	st.Models = make(map[string]ModelStats, len(s.stats.Models))
	for m, ms := range s.stats.Models {
		ms.ByStatus = maps.Clone(ms.ByStatus)
		ms.FaultsApplied = maps.Clone(ms.FaultsApplied)
		st.Models[m] = ms
	}
	s.mu.Unlock()
	st.InFlight = s.inflight.Load()
	return st
}

// ResetStats zeroes the counters (except InFlight).
func (s *Sim) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = newStats()
}

// Handler is the provider API. It supports every fault except down, which
// needs the listener (see Server); the bare Handler answers down like reset.
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// reqKind classifies a request for the counters.
type reqKind int

const (
	reqOther reqKind = iota
	reqChat
	reqProbe
)

// exchange is the state of one request, shared by the handlers.
type exchange struct {
	w      *recorder
	r      *http.Request
	rc     *http.ResponseController
	reqID  string
	kind   reqKind
	stream bool
	model  string
	fault  FaultKind
	// api is the model API a request of kind reqChat was made to.
	api provider.API
	// deployment is the Azure OpenAI deployment a request was made to:
	// it, not the body's model, chooses the model.
	deployment string
	// body is the request body once read (bedrock signatures cover it).
	body []byte
	// gemini is the model and method a Gemini-shaped request names in
	// its path; nil for the other kinds.
	gemini *geminiCall
}

// recorder remembers the status sent; it unwraps for ResponseController so
// that Flush and Hijack reach the server's writer.
type recorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
	// closed is set when a hijacked connection was closed cleanly (cut),
	// not reset.
	closed bool
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.inflight.Add(1)
	rec := &recorder{ResponseWriter: w}
	x := &exchange{w: rec, r: r, rc: http.NewResponseController(rec), reqID: s.requestID()}
	// Deferred so that it also runs when a reset falls back to
	// panic(http.ErrAbortHandler).
	defer s.finish(x, start)
	p := r.URL.Path
	if s.kind == KindAzureOpenAI {
		s.serveAzure(x)
		return
	}
	if s.kind == KindGemini {
		if !s.serveGemini(x) {
			s.writeError(x, http.StatusNotFound, s.notFound(r))
		}
		return
	}
	if api, ok := s.apiAt(p); ok {
		x.kind, x.api = reqChat, api
		s.serveChat(x)
		return
	}
	switch {
	case s.kind == KindOpenAI && strings.HasPrefix(p, "/v1/responses/"):
		s.serveStoredResponse(x, strings.TrimPrefix(p, "/v1/responses/"))
	case s.kind == KindBedrock && p == "/foundation-models":
		x.kind = reqProbe
		s.serveModels(x)
	case s.kind != KindBedrock && (p == "/v1/models" || strings.HasPrefix(p, "/v1/models/")):
		x.kind = reqProbe
		s.serveModels(x)
	default:
		s.writeError(x, http.StatusNotFound, s.notFound(r))
	}
}

// apiAt returns the model API the kind serves at path: the chat endpoint,
// and OpenAI's Responses, Embeddings and legacy Completions or
// Anthropic's count_tokens.
func (s *Sim) apiAt(path string) (provider.API, bool) {
	if s.kind == KindBedrock {
		if strings.HasPrefix(path, "/model/") && (strings.HasSuffix(path, "/converse") || strings.HasSuffix(path, "/converse-stream")) {
			return provider.APIChat, true
		}
		return 0, false
	}
	if s.kind == KindAnthropic {
		switch path {
		case "/v1/messages":
			return provider.APIChat, true
		case "/v1/messages/count_tokens":
			return provider.APICountTokens, true
		}
		return 0, false
	}
	switch path {
	case "/v1/chat/completions":
		return provider.APIChat, true
	case "/v1/responses":
		return provider.APIResponses, true
	case "/v1/embeddings":
		return provider.APIEmbeddings, true
	case "/v1/completions":
		return provider.APICompletions, true
	}
	return 0, false
}

// finish counts and logs one request.
func (s *Sim) finish(x *exchange, start time.Time) {
	s.inflight.Add(-1)
	s.mu.Lock()
	switch x.kind {
	case reqChat:
		s.stats.ChatRequests++
		if x.stream {
			s.stats.StreamRequests++
		}
		if x.model != "" {
			s.stats.ByModel[x.model]++
		}
	case reqProbe:
		s.stats.ProbeRequests++
	default:
		s.stats.OtherRequests++
	}
	switch {
	case x.w.status != 0:
		s.stats.ByStatus[x.w.status]++
		if x.kind == reqChat && x.model != "" {
			ms := s.stats.model(x.model)
			ms.ByStatus[x.w.status]++
			s.stats.Models[x.model] = ms
		}
	case !x.w.hijacked:
		s.stats.Aborted++
	}
	if x.w.hijacked && !x.w.closed {
		s.stats.Resets++
	}
	s.mu.Unlock()
	if s.log.Enabled(x.r.Context(), slog.LevelDebug) {
		s.log.LogAttrs(x.r.Context(), slog.LevelDebug, "sim request",
			slog.String("method", x.r.Method), slog.String("path", x.r.URL.Path),
			slog.Int("status", x.w.status), slog.Bool("reset", x.w.hijacked),
			slog.Bool("stream", x.stream), slog.String("model", x.model),
			slog.String("fault", string(x.fault)), slog.String("request_id", x.reqID),
			slog.Duration("duration", time.Since(start)))
	}
}

// readBody reads the whole request body; a body over the limit answers 413.
func (s *Sim) readBody(x *exchange) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(x.w, x.r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeError(x, http.StatusRequestEntityTooLarge, s.errorFor(http.StatusRequestEntityTooLarge, ""))
		}
		// Otherwise the client went away mid-body: nobody to answer.
		return nil, false
	}
	return body, true
}

// frontDoor applies the faults that break the whole API, before
// authentication. It reports whether the request was answered.
func (s *Sim) frontDoor(x *exchange, model string) bool {
	f, ok := s.take(phaseFrontDoor, model, x.kind == reqProbe, x.stream, nil)
	if !ok {
		return false
	}
	x.fault = f.Kind
	switch f.Kind {
	case FaultDown, FaultReset:
		s.reset(x)
	case FaultHang:
		<-x.r.Context().Done()
	case FaultWrongKey:
		s.writeAuthError(x, true)
	case FaultRateLimit:
		s.setRateLimitHeaders(x.w.Header(), f.retryAfter())
		s.writeError(x, http.StatusTooManyRequests, s.errorFor(http.StatusTooManyRequests, model))
	case FaultError:
		status := f.Status
		if status == 0 {
			status = DefaultErrorStatus
		}
		setRetryAfter(x.w.Header(), f.retryAfter())
		s.writeError(x, status, s.errorFor(status, model))
	}
	return true
}

// authorized checks the API key when one is expected and answers 401 if it
// is missing or wrong. The key is never echoed or logged.
func (s *Sim) authorized(x *exchange) bool {
	if s.expectKey == "" {
		return true
	}
	if s.kind == KindBedrock {
		if tok, bearer := strings.CutPrefix(x.r.Header.Get("Authorization"), "Bearer "); bearer {
			// A Bedrock API key (what a target with secret_key_ref
			// sends, and what drills give every target) is compared
			// with the whole ExpectKey, as other kinds' keys are.
			ok := subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.expectKey)) == 1
			if !ok {
				s.writeError(x, http.StatusForbidden, bedrockAuthError(true))
			}
			return ok
		}
		ok, present := bedrockSigned(x.r, x.body, s.expectKey)
		if !ok {
			s.writeError(x, http.StatusForbidden, bedrockAuthError(present))
		}
		return ok
	}
	if s.kind == KindGemini {
		return s.geminiAuthorized(x)
	}
	var got string
	switch {
	case s.kind == KindAnthropic:
		got = x.r.Header.Get("x-api-key")
	case s.kind == KindAzureOpenAI:
		return s.azureAuthorized(x)
	}
	// OpenAI takes the key as a bearer token; so does Anthropic, where
	// anthropic-sdk-go sends it (option.WithAPIKey), x-api-key first.
	if got == "" {
		got, _ = strings.CutPrefix(x.r.Header.Get("Authorization"), "Bearer ")
		got = strings.TrimSpace(got)
	}
	if got == "" {
		s.writeError(x, http.StatusUnauthorized, s.authError(false))
		return false
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.expectKey)) != 1 {
		s.writeError(x, http.StatusUnauthorized, s.authError(true))
		return false
	}
	return true
}

// versioned checks the anthropic-version header the Anthropic API requires.
func (s *Sim) versioned(x *exchange) bool {
	if s.kind != KindAnthropic || x.r.Header.Get("anthropic-version") != "" {
		return true
	}
	s.writeError(x, http.StatusBadRequest, apiError{typ: "invalid_request_error", message: "anthropic-version: header is required"})
	return false
}

func (s *Sim) serveChat(x *exchange) {
	if x.r.Method != http.MethodPost {
		s.writeError(x, http.StatusMethodNotAllowed, s.methodNotAllowed(x.r))
		return
	}
	body, ok := s.readBody(x)
	if !ok {
		return
	}
	if x.deployment != "" {
		body = withModel(body, x.deployment)
	}
	x.body = body
	var conv *conversation
	var perr *apiError
	switch {
	case x.gemini != nil && x.api == provider.APIEmbeddings:
		conv, perr = parseGeminiEmbed(x.gemini, body)
	case x.gemini != nil:
		conv, perr = parseGemini(x.gemini, body)
		if conv.stream && x.r.URL.Query().Get("alt") != "sse" {
			perr = geminiInvalid("the simulator streams only with alt=sse")
		}
	default:
		conv, perr = s.parse(x.api, body)
	}
	if s.kind == KindBedrock {
		// The model and the stream flag are in the path, not the body.
		model, stream, ok := bedrockPath(x.r.URL)
		if !ok {
			s.writeError(x, http.StatusNotFound, s.notFound(x.r))
			return
		}
		conv.model, conv.stream = model, stream
	}
	if conv != nil {
		x.stream, x.model = conv.stream, conv.model
		s.attempt(conv)
	}
	if s.frontDoor(x, x.model) || !s.authorized(x) || !s.versioned(x) {
		return
	}
	if perr != nil {
		s.writeError(x, http.StatusBadRequest, *perr)
		return
	}
	p := s.plan(x.api, conv)
	f, _ := s.take(phaseDelivery, x.model, false, conv.stream, conv)
	if f.Kind != "" {
		x.fault = f.Kind
	}
	if s.refuse(x, f, conv) {
		return
	}
	wait := s.latency
	if f.Kind == FaultSlowFirstToken || (f.Kind == FaultSlowFirstContent && !conv.stream) {
		wait += f.delay()
	}
	if !sleepCtx(x.r.Context(), wait) {
		return
	}
	if x.gemini != nil {
		s.deliverGemini(x, conv, p, f)
		return
	}
	if !conv.stream {
		s.deliverJSON(x, s.answerBody(x.api, conv, p), f)
		return
	}
	s.deliverStream(x, s.answerFrames(x.api, conv, p), f)
}

// parse validates a request body to api as the provider does and extracts
// the conversation; on a validation error the conversation is still
// returned when the body decoded, so that stream and model are counted.
func (s *Sim) parse(api provider.API, body []byte) (*conversation, *apiError) {
	switch api {
	case provider.APIResponses:
		return s.parseResponses(body)
	case provider.APIEmbeddings:
		return parseEmbeddings(body)
	case provider.APICompletions:
		return parseCompletions(body)
	case provider.APICountTokens:
		return parseCountTokens(body)
	}
	switch s.kind {
	case KindAnthropic:
		return parseAnthropic(body)
	case KindBedrock:
		return parseBedrock(body)
	}
	return parseOpenAI(body)
}

// plan decides the answer to a valid request. Embeddings and count_tokens
// answer no text: their plan only carries the prompt's tokens.
func (s *Sim) plan(api provider.API, c *conversation) plan {
	switch api {
	case provider.APIEmbeddings:
		return plan{inputTokens: embeddingPromptTokens(c)}
	case provider.APICountTokens:
		return plan{inputTokens: promptTokens(c)}
	case provider.APICompletions:
		return completionsPlan(c)
	}
	return makePlan(s.kind, c)
}

// answerBody renders a non-streaming answer.
func (s *Sim) answerBody(api provider.API, c *conversation, p plan) []byte {
	switch api {
	case provider.APIResponses:
		return s.responsesBody(c, p)
	case provider.APIEmbeddings:
		return embeddingsBody(c)
	case provider.APICompletions:
		return completionsBody(c, p, s.legacyCompletionID(), time.Now().Unix())
	case provider.APICountTokens:
		return countTokensBody(p)
	}
	switch s.kind {
	case KindAnthropic:
		return anthropicMessage(c, p, s.messageID())
	case KindBedrock:
		return bedrockAnswer(p)
	}
	return openaiCompletion(c, p, s.completionID(), time.Now().Unix())
}

// answerFrames renders a streamed answer (the APIs that stream).
func (s *Sim) answerFrames(api provider.API, c *conversation, p plan) [][]byte {
	switch api {
	case provider.APIResponses:
		return s.responsesFrames(c, p)
	case provider.APICompletions:
		return completionsFrames(c, p, s.legacyCompletionID(), time.Now().Unix())
	}
	switch s.kind {
	case KindAnthropic:
		return anthropicFrames(c, p, s.messageID())
	case KindBedrock:
		return bedrockFrames(p)
	}
	return openaiFrames(c, p, s.completionID(), time.Now().Unix())
}

// refuse answers the faults that refuse a valid request with a 400
// (context_length, content_policy, refuse_prefill). It reports whether it
// answered.
func (s *Sim) refuse(x *exchange, f Fault, c *conversation) bool {
	var e apiError
	switch f.Kind {
	case FaultContextLength:
		e = s.contextLengthError(f, c)
	case FaultContentPolicy:
		if s.kind == KindGemini {
			// Gemini blocks a prompt with a 200 that has no candidates.
			s.deliverGeminiBlocked(x, c)
			return true
		}
		e = s.contentPolicyError(f)
	case FaultRefusePrefill:
		e = s.prefillError()
	default:
		return false
	}
	status := http.StatusBadRequest
	if e.code != "" && s.kind == KindGemini {
		status, _ = strconv.Atoi(e.code)
	}
	s.writeError(x, status, e)
	return true
}

// deliverJSON writes a non-streaming body and applies the delivery faults:
// reset_mid_stream, cut and stall send the headers with the full
// Content-Length and half the body, then reset, close or go silent;
// malformed sends half the body as if it were all of it.
func (s *Sim) deliverJSON(x *exchange, body []byte, f Fault) {
	s.setHeaders(x, "application/json")
	if f.Kind == FaultMalformed {
		body = body[:len(body)/2]
	}
	x.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(http.StatusOK)
	switch f.Kind {
	case FaultResetMidStream, FaultCut, FaultStall:
		if _, err := x.w.Write(body[:len(body)/2]); err != nil {
			return
		}
		switch f.Kind {
		case FaultResetMidStream:
			s.reset(x)
		case FaultCut:
			s.closeConn(x)
		default:
			if x.rc.Flush() == nil {
				<-x.r.Context().Done()
			}
		}
		return
	}
	_, _ = x.w.Write(body)
}

// deliverStream writes the frames, flushing each one as soon as it is
// written, and applies the stream faults.
func (s *Sim) deliverStream(x *exchange, frames [][]byte, f Fault) {
	if s.kind == KindBedrock {
		s.setHeaders(x, "application/vnd.amazon.eventstream")
	} else {
		s.setHeaders(x, "text/event-stream; charset=utf-8")
	}
	h := x.w.Header()
	h.Set("Cache-Control", "no-cache")
	x.w.WriteHeader(http.StatusOK)
	finishAt := finishFrame(s.kind, x.api, frames)
	cut, bad, hold := -1, -1, -1
	switch f.Kind {
	case FaultResetMidStream, FaultStreamError:
		// Capped so that the closing frame never goes out: the stream is
		// always incomplete, which is the point of the fault.
		cut = min(f.AfterChunks, len(frames)-1)
	case FaultStall, FaultCut:
		// Capped below the finishing frame: cut mid-answer, no finish_reason.
		cut = min(f.AfterChunks, finishAt)
	case FaultMalformed:
		bad = min(f.AfterChunks, finishAt)
	case FaultNoDone:
		// The last frame is the sentinel: [DONE] or message_stop.
		frames = frames[:len(frames)-1]
	case FaultSlowFirstContent:
		hold = firstContentFrame(s.kind, x.api, frames)
	}
	var slow time.Duration
	if f.Kind == FaultSlowStream {
		slow = f.delay()
	}
	ctx := x.r.Context()
	if slow > 0 || hold == 0 {
		// The headers go out now so that the client sees a slow stream,
		// not a slow response.
		if err := x.rc.Flush(); err != nil {
			return
		}
	}
	for i, fr := range frames {
		if i == cut {
			switch f.Kind {
			case FaultResetMidStream:
				s.reset(x)
			case FaultCut:
				s.closeConn(x)
			case FaultStall:
				// The headers go out even with no frame: a 200, then silence.
				if x.rc.Flush() == nil {
					<-ctx.Done()
				}
			default:
				_, _ = x.w.Write(s.streamErrorFrame(x.api, f.Status, i))
				_ = x.rc.Flush()
			}
			return
		}
		d := slow
		if i > 0 {
			d += s.chunkDelay
		}
		if i == hold {
			d += f.delay()
		}
		if !sleepCtx(ctx, d) {
			return
		}
		if i == bad {
			if s.kind == KindBedrock {
				fr = bedrockMalformed(fr)
			} else {
				fr = malformedFrame(fr)
			}
		}
		if _, err := x.w.Write(fr); err != nil {
			return
		}
		if err := x.rc.Flush(); err != nil {
			return
		}
	}
}

// finishFrame is the index of the frame that finishes the answer: OpenAI's
// chunk with a finish_reason (chat and legacy completions), Anthropic's
// message_delta, the Responses API's response.completed (or .incomplete).
func finishFrame(k Kind, api provider.API, frames [][]byte) int {
	if api == provider.APIResponses {
		for i, fr := range frames {
			if bytes.HasPrefix(fr, []byte("event: response.completed\n")) || bytes.HasPrefix(fr, []byte("event: response.incomplete\n")) {
				return i
			}
		}
		return len(frames) - 1
	}
	if k == KindBedrock {
		// messageStop, before the metadata frame that ends the stream.
		return max(0, len(frames)-2)
	}
	for i, fr := range frames {
		if k == KindGemini && bytes.Contains(fr, []byte(`"finishReason":"`)) ||
			k == KindAnthropic && bytes.HasPrefix(fr, []byte("event: message_delta\n")) ||
			k != KindAnthropic && k != KindGemini && bytes.Contains(fr, []byte(`"finish_reason":"`)) {
			return i
		}
	}
	return len(frames) - 1
}

// firstContentFrame is the index of the first frame that carries content
// (text or a tool call) rather than lifecycle: OpenAI's role-only chunk and
// Anthropic's message_start, content_block_start and ping come before it;
// the Responses API's response.created, in_progress, the message's
// output_item.added and content_part.added (a function call's
// output_item.added is content: it names the call). A legacy completion
// has no lifecycle chunk.
func firstContentFrame(k Kind, api provider.API, frames [][]byte) int {
	switch api {
	case provider.APICompletions:
		return 0
	case provider.APIResponses:
		for i, fr := range frames {
			if bytes.HasPrefix(fr, []byte("event: response.output_text.delta\n")) ||
				bytes.HasPrefix(fr, []byte("event: response.output_item.added\n")) && bytes.Contains(fr, []byte(`"type":"function_call"`)) {
				return i
			}
		}
		return finishFrame(k, api, frames)
	}
	if k == KindBedrock {
		return 1 // the first content block's frame, after messageStart
	}
	if k == KindGemini {
		// Every Gemini event carries content: there are no lifecycle events.
		return 0
	}
	if k == KindAnthropic {
		for i, fr := range frames {
			if bytes.HasPrefix(fr, []byte("event: content_block_delta\n")) {
				return i
			}
		}
		return finishFrame(k, api, frames)
	}
	if bytes.Contains(frames[0], []byte(`"tool_calls"`)) {
		// A tool call's first chunk carries its id and name: content.
		return 0
	}
	return 1
}

// malformedFrame keeps fr's SSE framing but cuts its JSON data in half.
func malformedFrame(fr []byte) []byte {
	i := bytes.Index(fr, []byte("data: "))
	if i < 0 {
		return fr
	}
	data := bytes.TrimSuffix(fr[i+len("data: "):], []byte("\n\n"))
	out := append([]byte(nil), fr[:i+len("data: ")]...)
	out = append(out, data[:len(data)/2]...)
	return append(out, "\n\n"...)
}

// setHeaders sets the provider's usual response headers.
func (s *Sim) setHeaders(x *exchange, contentType string) {
	h := x.w.Header()
	h.Set("Content-Type", contentType)
	switch s.kind {
	case KindBedrock:
		h.Set("x-amzn-RequestId", x.reqID)
		return
	case KindGemini:
		h.Set("Server", "scaffolding on HTTPServer2")
		return
	case KindAnthropic:
		h.Set("request-id", x.reqID)
		return
	case KindAzureOpenAI:
		h.Set("apim-request-id", x.reqID)
		h.Set("x-request-id", x.reqID)
		h.Set("x-ms-region", "Sim Region")
		return
	}
	h.Set("x-request-id", x.reqID)
	h.Set("openai-version", "2020-10-01")
	h.Set("openai-processing-ms", "1")
}

// sleepCtx waits d or until ctx is done; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
