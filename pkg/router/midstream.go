package router

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/jsonw"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// Mid-stream continuation (Settings.Midstream): when a committed stream is
// cut or stalls after answer text went out, the next target that accepts
// prefill gets the same request plus an assistant message holding the text
// already delivered, and only what it adds is relayed. The client sees one
// answer: every chunk after the seam carries the id, created and model of
// the chunks before it (the model that continued is in the event and the
// attempt spans), lifecycle frames of the continuation are dropped, and its
// usage chunk adds the interrupted attempt's usage.
//
// The prefill leaves out trailing whitespace (Anthropic refuses a final
// assistant message that ends with it); the same whitespace at the start of
// the continuation is not sent twice.

// midstream is one stream's continuation state. Its frame parsing runs only
// for requests with continuation on, never on the default path.
type midstream struct {
	r        *Router
	req      *Request
	ranks    []int // the request's remaining targets, in its order
	left     int   // attempts the request may still make
	deadline time.Time

	text []byte // answer text delivered so far
	tool bool   // a tool-call delta went out: never continue
	// id, created and model of the first chunks, as raw JSON.
	id, created, model string

	usage    provider.Usage // of the attempts that ended
	attempts []Attempt      // the committed attempt, then the continuation's
	seam     *Seam          // the interrupted attempt's side
	joined   bool           // a continuation is relaying
	ended    bool           // a continuation failed or was refused
	skipWS   []byte         // whitespace left out of the prefill

	br  bytes.Reader
	sc  *sse.Reader
	out []byte // rewrite's buffer
}

// continuation returns the continuation state of a committed stream, or
// nil when it can never be continued: n > 1, or no target left.
func (r *Router) continuation(req *Request, order []pick, next, n, left int, deadline time.Time) *midstream {
	if left <= 0 || next >= n {
		return nil
	}
	if c := gjson.GetBytes(req.Body, "n"); c.Exists() && c.Int() > 1 {
		return nil // choices cannot be stitched one by one
	}
	m := &midstream{r: r, req: req, left: left, deadline: deadline}
	for k := next; k < n; k++ {
		rank := k
		if order != nil {
			rank = int(order[k].rank)
		}
		m.ranks = append(m.ranks, rank)
	}
	return m
}

// possible reports whether the stream may be continued now.
func (m *midstream) possible() bool {
	return !m.tool && !m.ended && m.left > 0 && len(bytes.TrimRight(m.text, " \t\r\n")) > 0 && time.Until(m.deadline) > 0
}

// continueOn ends the current attempt with out and asks the next targets
// that accept prefill to continue. It reports whether one did: s then
// relays it.
func (s *Stream) continueOn(out classify.Outcome) bool {
	m := s.mid
	r := m.r
	from := s.run.a
	ctx := s.run.ctx
	chars := utf8.RuneCount(m.text)
	// The interrupted attempt ends first, naming the first target that
	// may continue it.
	to := ""
	for _, rank := range m.ranks {
		if t := r.targets[rank]; t.AcceptsPrefill(r.modelFor(rank, m.req.Model)) {
			to = t.ID
			break
		}
	}
	m.seam = &Seam{From: from.Target, To: to, Chars: chars, Interruption: out}
	from.Seam = m.seam
	s.endAttempt(out)
	m.usage = addUsage(m.usage, s.tr.Usage())
	m.attempts = append(m.attempts, *from)
	s.failedTarget = from.Target
	if to == "" {
		m.ended = true
		return false
	}

	trimmed := bytes.TrimRight(m.text, " \t\r\n")
	m.skipWS = append(m.skipWS[:0], m.text[len(trimmed):]...)
	body, err := prefillBody(m.req.Body, trimmed)
	if err != nil {
		m.ended = true
		return false
	}
	req := *m.req
	req.Body = body
	prev := from
	for len(m.ranks) > 0 && m.left > 0 {
		rank := m.ranks[0]
		m.ranks = m.ranks[1:]
		t := r.targets[rank]
		model := r.modelFor(rank, m.req.Model)
		if !t.AcceptsPrefill(model) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		r.observer.Failover(ctx, FailoverStep{From: prev.Target, To: t.ID, Reason: prev.Outcome.Reason, FromModel: prev.Model, ToModel: model})
		n := len(m.attempts) + 1
		now := time.Now()
		done, skip := t.Health.Admit(now, model)
		if skip != classify.None {
			m.attempts = append(m.attempts, Attempt{N: n, Route: r.settings.Route, API: provider.APIChat, Target: t.ID, Kind: t.Adapter.Kind(), Model: model, Outcome: classify.Skipped(skip), Skipped: true, Start: now})
			r.observer.EndAttempt(ctx, &m.attempts[len(m.attempts)-1])
			prev = &m.attempts[len(m.attempts)-1]
			continue
		}
		budget := time.Until(m.deadline)
		if budget <= 0 {
			done(classify.Outcome{Reason: classify.Canceled})
			break
		}
		// A continuation is a failover attempt: fields t cannot take are
		// dropped as on any failover; a target that cannot take the
		// request at all, or would need a fan-out, is not asked.
		plan := r.planParams(t, &req, false)
		if plan.refuse != nil || plan.skip != nil || plan.fanOut > 1 {
			done(classify.Outcome{Reason: classify.UnsupportedRequest}) // never sent
			re := plan.skip
			if re == nil {
				re = plan.refuse
			}
			if re == nil {
				re = &provider.RequestError{Param: "n", Message: "n > 1 is never continued mid-stream"}
			}
			m.attempts = append(m.attempts, unsupportedAttempt(n, r.settings.Route, provider.APIChat, t, model, re))
			m.attempts[len(m.attempts)-1].Start = now
			r.observer.EndAttempt(ctx, &m.attempts[len(m.attempts)-1])
			prev = &m.attempts[len(m.attempts)-1]
			continue
		}
		creq := plan.request(&req)
		creq.seam = &Seam{From: from.Target, To: t.ID, Chars: chars, Interruption: out, Continuing: true}
		m.left--
		res, a := r.attempt(ctx, t, model, creq, n, Retry{}, budget, done)
		if res != nil && res.Stream != nil {
			s.join(res.Stream)
			return true
		}
		m.attempts = append(m.attempts, a)
		prev = &m.attempts[len(m.attempts)-1]
		if res != nil || !a.Outcome.Retryable {
			// A client error: the target refused the continuation (for
			// example "does not support assistant message prefill"), and
			// any other would refuse it for the same reason.
			break
		}
	}
	m.ended = true
	return false
}

// join makes s relay c, a continuation's committed stream.
func (s *Stream) join(c *Stream) {
	m := s.mid
	m.joined = true
	s.run, s.body, s.rd, s.tr, s.idle = c.run, c.body, c.rd, c.tr, c.idle
	s.ended, s.eof, s.err = false, c.eof, nil
	if c.pending != nil {
		p := m.rewrite(c.pending)
		s.pending = nil
		if len(p) > 0 {
			s.pending = p
		}
	}
}

// prefillBody appends the assistant message holding text to the request's
// messages.
func prefillBody(body, text []byte) ([]byte, error) {
	msg := append([]byte(`{"role":"assistant","content":`), jsonw.AppendString(nil, text)...)
	msg = append(msg, '}')
	// A fresh copy: the client's body stays as it was for the event.
	return sjson.SetRawBytes(bytes.Clone(body), "messages.-1", msg)
}

// events calls fn for every SSE event in p (client-facing frames).
func (m *midstream) events(p []byte, fn func(ev sse.Event)) {
	m.br.Reset(p)
	if m.sc == nil {
		m.sc = sse.NewReader(&m.br)
	} else {
		m.sc.Reset(&m.br)
	}
	for {
		ev, err := m.sc.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && len(ev.Raw) > 0 {
				fn(ev)
			}
			return
		}
		fn(ev)
	}
}

// observe notes what the client is handed: the answer text, whether a tool
// call went out, and the first chunk's id, created and model.
func (m *midstream) observe(p []byte) {
	m.events(p, func(ev sse.Event) {
		if len(ev.Data) == 0 || sse.IsDone(ev.Data) || !gjson.ValidBytes(ev.Data) {
			return
		}
		res := gjson.GetManyBytes(ev.Data, "id", "created", "model", "choices.0.delta.content", "choices.0.delta.tool_calls", "choices.0.delta.function_call")
		if m.id == "" && res[0].Exists() {
			m.id, m.created, m.model = res[0].Raw, res[1].Raw, res[2].Raw
		}
		if res[3].Type == gjson.String {
			m.text = append(m.text, res[3].Str...)
		}
		if res[4].Exists() && res[4].Type != gjson.Null || res[5].Exists() && res[5].Type != gjson.Null {
			m.tool = true
		}
	})
}

// rewrite turns a continuation's frames into the continued answer's: the
// first chunks' id, created and model; no lifecycle frames; no whitespace
// the client already has; usage that adds the interrupted attempts'.
func (m *midstream) rewrite(p []byte) []byte {
	m.out = m.out[:0]
	m.events(p, func(ev sse.Event) {
		data := ev.Data
		switch {
		case len(data) == 0:
			return // comments and keep-alives: the client's connection is live
		case sse.IsDone(data):
			m.out = append(m.out, "data: [DONE]\n\n"...)
			return
		case !gjson.ValidBytes(data) || gjson.GetBytes(data, "error").Exists():
			m.out = append(m.out, ev.Raw...)
			return
		}
		res := gjson.GetManyBytes(data, "choices.0.delta.content", "choices.0.delta.tool_calls", "choices.0.finish_reason", "usage", "choices.0.delta.refusal")
		content := res[0]
		keep := res[1].Exists() && res[1].Type != gjson.Null || res[2].Type == gjson.String || res[3].IsObject() ||
			res[4].Type == gjson.String && res[4].Str != ""
		var err error
		out := bytes.Clone(data)
		if content.Type == gjson.String {
			text := m.trimOverlap(content.Str)
			if text != "" {
				keep = true
			}
			if text != content.Str {
				out, err = sjson.SetBytes(out, "choices.0.delta.content", text)
			}
		}
		if !keep || err != nil {
			return
		}
		out = m.stamp(out)
		if res[3].IsObject() {
			out = m.addUsage(out, res[3])
		}
		m.out = append(m.out, "data: "...)
		m.out = append(m.out, out...)
		m.out = append(m.out, "\n\n"...)
	})
	return m.out
}

// trimOverlap drops from the continuation's first text the whitespace the
// client already got (left out of the prefill).
func (m *midstream) trimOverlap(text string) string {
	for len(m.skipWS) > 0 && len(text) > 0 {
		if text[0] != m.skipWS[0] {
			m.skipWS = m.skipWS[:0]
			break
		}
		text, m.skipWS = text[1:], m.skipWS[1:]
	}
	if len(text) > 0 {
		m.skipWS = m.skipWS[:0]
	}
	return text
}

// stamp sets the first chunks' id, created and model on a chunk, and drops
// a role that would restart the message.
func (m *midstream) stamp(chunk []byte) []byte {
	for _, f := range [...]struct{ path, raw string }{{"id", m.id}, {"created", m.created}, {"model", m.model}} {
		if f.raw == "" {
			continue
		}
		if out, err := sjson.SetRawBytes(chunk, f.path, []byte(f.raw)); err == nil {
			chunk = out
		}
	}
	if gjson.GetBytes(chunk, "choices.0.delta.role").Exists() {
		if out, err := sjson.DeleteBytes(chunk, "choices.0.delta.role"); err == nil {
			chunk = out
		}
	}
	return chunk
}

// addUsage adds the interrupted attempts' usage to a usage chunk.
func (m *midstream) addUsage(chunk []byte, u gjson.Result) []byte {
	if m.usage == (provider.Usage{}) {
		return chunk
	}
	in := u.Get("prompt_tokens").Int() + m.usage.InputTokens
	outT := u.Get("completion_tokens").Int() + m.usage.OutputTokens
	for _, f := range [...]struct {
		path string
		v    int64
	}{{"usage.prompt_tokens", in}, {"usage.completion_tokens", outT}, {"usage.total_tokens", in + outT}} {
		if out, err := sjson.SetRawBytes(chunk, f.path, strconv.AppendInt(nil, f.v, 10)); err == nil {
			chunk = out
		}
	}
	return chunk
}

// Seam is the interrupted side of the stream's mid-stream continuation,
// nil when there was none.
func (s *Stream) Seam() *Seam {
	if s.mid == nil {
		return nil
	}
	return s.mid.seam
}

func addUsage(a, b provider.Usage) provider.Usage {
	return provider.Usage{
		InputTokens:         a.InputTokens + b.InputTokens,
		OutputTokens:        a.OutputTokens + b.OutputTokens,
		CacheReadTokens:     a.CacheReadTokens + b.CacheReadTokens,
		CacheCreationTokens: a.CacheCreationTokens + b.CacheCreationTokens,
	}
}

// Leave records that the request moved away from target for reason, unless
// it already failed over (only the first move defines the origin): the
// gateway calls it for a continuation, decided after the Result was
// returned.
func (f *Failover) Leave(target string, reason classify.Reason) { f.leave(target, reason) }

// SeamOutcome names how a continuation attempt ended, for events and the
// keeptrusts.midstream.continuations metric: ok, refused (a client error:
// the target would not continue the prefill), or the failure reason.
func SeamOutcome(o classify.Outcome) string {
	switch {
	case o.OK():
		return "ok"
	case o.Reason == classify.ClientError:
		return "refused"
	case o.Detail != "":
		return string(o.Detail)
	}
	return string(o.Reason)
}
