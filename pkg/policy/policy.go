package policy

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/jsonw"
	"github.com/tidwall/gjson"
)

// Action is what a policy does on a hit.
type Action string

// The actions of config.Policy.Action.
const (
	// ActionFlag records the hit; the request goes on unchanged.
	ActionFlag Action = "flag"
	// ActionBlock refuses the request: the gateway answers 400
	// content_policy_violation and never contacts a provider.
	ActionBlock Action = "block"
	// ActionRedact replaces every matched span with Redaction and sends the
	// request on.
	ActionRedact Action = "redact"
)

// Outcomes of one policy on one request, in Result.Outcome.
const (
	OutcomePass     = "pass"
	OutcomeFlagged  = "flagged"
	OutcomeBlocked  = "blocked"
	OutcomeRedacted = "redacted"
)

// TypeContentFilter is the only policy type so far.
const TypeContentFilter = "content_filter"

// Redaction replaces each matched span under ActionRedact.
const Redaction = "[REDACTED]"

// ErrMalformedBody is wrapped by the errors of EvaluateRequest,
// EvaluateRequestAPI and EvaluateResponse for a body they cannot read (not
// JSON, messages not an array, a content that is neither a string nor
// parts...); the error names the field's path. The gateway answers such a
// request 400 rather than sending it on unchecked.
var ErrMalformedBody = errors.New("malformed body")

// Result is the outcome of one policy on one request or text.
type Result struct {
	// Policy is the policy's configured name.
	Policy string `json:"policy"`
	// Type is the policy type (content_filter).
	Type string `json:"type"`
	// Action is the configured action.
	Action Action `json:"action"`
	// Outcome is pass, flagged, blocked or redacted.
	Outcome string `json:"outcome"`
	// Categories that hit, sorted and unique; empty on pass.
	Categories []string `json:"categories,omitempty"`
	// Matches counts the matched spans (overlapping hits count once).
	Matches int `json:"matches"`
}

// Hit reports whether the policy matched anything.
func (r Result) Hit() bool { return r.Matches > 0 }

// compiled is one policy ready to run.
type compiled struct {
	name   string
	action Action
	mask   uint8 // category bits
}

// Engine runs the configured policies. It is built once at start-up,
// immutable afterwards and safe for concurrent use.
type Engine struct {
	policies   []compiled
	m          *matcher
	redactMask uint8 // categories some redact policy covers
	// pool recycles per-call buffers so that a clean request allocates
	// only its results. It is the Engine's only mutable part and is
	// concurrency-safe.
	pool sync.Pool
}

// New compiles the policies. Every invalid field is reported, each with its
// path ("policies[1].config.categories[0]: ..."); `kt policy lint` checks
// the same rules, but New never trusts its input. An empty list gives an
// Empty engine.
func New(policies []config.Policy) (*Engine, error) {
	e := &Engine{}
	var errs []error
	names := map[string]int{}
	var all uint8
	for i, p := range policies {
		path := fmt.Sprintf("policies[%d]", i)
		switch first, dup := names[p.Name]; {
		case p.Name == "":
			errs = append(errs, fmt.Errorf("%s.name: required", path))
		case dup:
			errs = append(errs, fmt.Errorf("%s.name: duplicate name %q (already used by policies[%d])", path, p.Name, first))
		default:
			names[p.Name] = i
		}
		if p.Type != TypeContentFilter {
			errs = append(errs, fmt.Errorf("%s.type: unknown type %q (want content_filter)", path, p.Type))
		}
		c := compiled{name: p.Name, action: Action(p.Action)}
		switch c.action {
		case "":
			c.action = ActionFlag // the documented default
		case ActionFlag, ActionBlock, ActionRedact:
		default:
			errs = append(errs, fmt.Errorf("%s.action: unknown action %q (want flag, block or redact)", path, p.Action))
		}
		if len(p.Config.Categories) == 0 {
			errs = append(errs, fmt.Errorf("%s.config.categories: at least one category is required", path))
		}
		for j, name := range p.Config.Categories {
			bit, ok := parseCategory(name)
			if !ok {
				errs = append(errs, fmt.Errorf("%s.config.categories[%d]: unknown category %q (want hate, violence, self_harm, sexual or harassment)", path, j, name))
				continue
			}
			c.mask |= 1 << bit
		}
		all |= c.mask
		if c.action == ActionRedact {
			e.redactMask |= c.mask
		}
		e.policies = append(e.policies, c)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid policies: %w", errors.Join(errs...))
	}
	if len(e.policies) > 0 {
		m, err := buildMatcher(all)
		if err != nil {
			return nil, fmt.Errorf("build content filter: %w", err)
		}
		e.m = m
	}
	n := len(e.policies)
	e.pool.New = func() any { return &scratch{acc: make([]acc, n)} }
	return e, nil
}

// Empty reports whether there is no policy to run; the gateway can then
// skip evaluation altogether. A nil *Engine is empty.
func (e *Engine) Empty() bool { return e == nil || len(e.policies) == 0 }

// EvaluateRequest runs every policy on the texts of an OpenAI Chat
// Completions request body: each messages[].content given as a string, and
// the text of each content part, whatever the role (system, user,
// assistant, tool). Tool definitions, tool-call arguments and non-text parts
// (images, audio, files) are not read. Keys are matched case-insensitively
// and every duplicate is read, because some decoders take the last
// duplicate or ignore case.
//
// out is body itself when nothing was redacted; otherwise a new slice in
// which only the redacted string values differ. results has one entry per
// policy, in configuration order; blocked is true when a block policy hit.
// An error wrapping ErrMalformedBody means the body could not be read; on an
// Empty engine the body is returned unread.
func (e *Engine) EvaluateRequest(body []byte) (out []byte, results []Result, blocked bool, err error) {
	return e.evaluateBody(body, (*walker).request)
}

// EvaluateResponse is EvaluateRequest for a non-streaming Chat Completions
// answer: it reads choices[].message.content (string or parts). A redact
// policy rewrites the answer's text; what a block hit means for an answer
// is the caller's decision.
func (e *Engine) EvaluateResponse(body []byte) (out []byte, results []Result, blocked bool, err error) {
	return e.evaluateBody(body, (*walker).response)
}

// EvaluateText runs every policy on one text, for answers and tests. A redact
// policy that hits reports OutcomeRedacted: the text would be redacted.
func (e *Engine) EvaluateText(s string) []Result {
	if e.Empty() {
		return nil
	}
	sc := e.get()
	defer e.put(sc)
	e.scanText(s, sc, false)
	results, _ := e.results(sc)
	return results
}

// scratch is the per-call state, recycled through Engine.pool.
type scratch struct {
	nb    normBuf
	hits  []hit
	ex    []hit
	spans []span
	text  []byte // the redacted text being built
	enc   []byte // JSON encodings of the redacted strings, back to back
	edits []edit
	acc   []acc // by policy
}

// acc accumulates one policy's hits over the texts of a body.
type acc struct {
	matches int
	cats    uint8
}

// edit replaces body[start:end] (a JSON string) with enc[encStart:encEnd].
type edit struct{ start, end, encStart, encEnd int }

// maxPooled keeps buffers grown by a huge body out of the pool.
const maxPooled = 256 << 10

func (e *Engine) get() *scratch {
	sc := e.pool.Get().(*scratch)
	clear(sc.acc)
	sc.edits, sc.enc = sc.edits[:0], sc.enc[:0]
	return sc
}

func (e *Engine) put(sc *scratch) {
	if cap(sc.nb.b) > maxPooled || cap(sc.enc) > maxPooled || cap(sc.text) > maxPooled {
		return
	}
	e.pool.Put(sc)
}

// scanText adds the hits of one text to sc.acc. When redact is set and a
// redact policy hit, it returns the text with the redact categories' spans
// replaced (valid UTF-8 whenever s is: spans start and end on rune
// boundaries of s).
func (e *Engine) scanText(s string, sc *scratch, redact bool) (repl []byte, changed bool) {
	sc.nb.normalize(s, false)
	sc.hits, sc.ex = e.m.scan(sc.nb.b, sc.hits, sc.ex)
	if len(sc.hits) == 0 {
		return nil, false
	}
	redactHit := false
	for i, p := range e.policies {
		n, cats := countSpans(sc.hits, p.mask)
		sc.acc[i].matches += n
		sc.acc[i].cats |= cats
		redactHit = redactHit || n > 0 && p.action == ActionRedact
	}
	if !redact || !redactHit {
		return nil, false
	}
	// Normalise again, recording offsets: the clean path never pays for them.
	sc.nb.normalize(s, true)
	spans := sc.spans[:0]
	for _, h := range sc.hits {
		if h.cats&e.redactMask == 0 {
			continue
		}
		// Hits are sorted by start and offsets grow with position, so the
		// source spans come sorted too.
		sp := span{sc.nb.starts[h.start], sc.nb.ends[h.end-1]}
		if k := len(spans) - 1; k >= 0 && sp.start <= spans[k].end {
			spans[k].end = max(spans[k].end, sp.end)
			continue
		}
		spans = append(spans, sp)
	}
	sc.spans = spans
	if len(spans) == 0 {
		return nil, false
	}
	t := sc.text[:0]
	prev := 0
	for _, sp := range spans {
		t = append(t, s[prev:sp.start]...)
		t = append(t, Redaction...)
		prev = sp.end
	}
	t = append(t, s[prev:]...)
	sc.text = t
	return t, true
}

// countSpans counts the hits in mask, overlapping ones once, and the
// categories they belong to.
func countSpans(hits []hit, mask uint8) (n int, cats uint8) {
	end := -1
	for _, h := range hits {
		if h.cats&mask == 0 {
			continue
		}
		cats |= h.cats & mask
		if h.start >= end {
			n++
		}
		end = max(end, h.end)
	}
	return n, cats
}

// results turns the accumulators into one Result per policy.
func (e *Engine) results(sc *scratch) ([]Result, bool) {
	results := make([]Result, len(e.policies))
	blocked := false
	for i, p := range e.policies {
		r := Result{Policy: p.name, Type: TypeContentFilter, Action: p.action, Outcome: OutcomePass, Matches: sc.acc[i].matches}
		if r.Matches > 0 {
			switch p.action {
			case ActionBlock:
				r.Outcome = OutcomeBlocked
				blocked = true
			case ActionRedact:
				r.Outcome = OutcomeRedacted
			default:
				r.Outcome = OutcomeFlagged
			}
			for c := range numCategories {
				if sc.acc[i].cats&(1<<c) != 0 {
					r.Categories = append(r.Categories, categoryName(c))
				}
			}
		}
		results[i] = r
	}
	return results, blocked
}

// evaluateBody runs the policies on the texts walk visits in body.
func (e *Engine) evaluateBody(body []byte, walk func(*walker, gjson.Result) error) ([]byte, []Result, bool, error) {
	if e.Empty() {
		return body, nil, false, nil
	}
	if !gjson.ValidBytes(body) {
		return nil, nil, false, fmt.Errorf("%w: not valid JSON", ErrMalformedBody)
	}
	// A zero-copy view: body is not modified during the call and no string
	// taken from it outlives the call.
	root := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	if !root.IsObject() {
		return nil, nil, false, fmt.Errorf("%w: want a JSON object", ErrMalformedBody)
	}
	// gjson.Parse leaves Index at 0 even after leading whitespace; child
	// offsets are relative to it, and redaction needs them exact.
	root.Index = len(body) - len(root.Raw)

	sc := e.get()
	defer e.put(sc)
	w := walker{e: e, sc: sc, body: body, redact: e.redactMask != 0}
	if err := walk(&w, root); err != nil {
		return nil, nil, false, err
	}
	results, blocked := e.results(sc)
	if len(sc.edits) == 0 {
		return body, results, blocked, nil
	}
	out, err := sc.apply(body)
	if err != nil {
		return nil, nil, false, err
	}
	return out, results, blocked, nil
}

// apply returns a copy of body with the edits made.
func (sc *scratch) apply(body []byte) ([]byte, error) {
	size := len(body)
	for _, ed := range sc.edits {
		size += ed.encEnd - ed.encStart - (ed.end - ed.start)
	}
	out := make([]byte, 0, size)
	prev := 0
	for _, ed := range sc.edits {
		if ed.start < prev || ed.end > len(body) {
			return nil, fmt.Errorf("redact: overlapping edits at offset %d", ed.start)
		}
		out = append(out, body[prev:ed.start]...)
		out = append(out, sc.enc[ed.encStart:ed.encEnd]...)
		prev = ed.end
	}
	return append(out, body[prev:]...), nil
}

// walker visits the texts of one body.
type walker struct {
	e      *Engine
	sc     *scratch
	body   []byte
	redact bool
}

// request visits messages[].content.
func (w *walker) request(root gjson.Result) error {
	found := false
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		if !strings.EqualFold(k.Str, "messages") {
			return true
		}
		found = true
		if !v.IsArray() {
			err = fmt.Errorf("%w: messages: want an array", ErrMalformedBody)
			return false
		}
		i := 0
		v.ForEach(func(_, msg gjson.Result) bool {
			err = w.message(msg, "messages[%d]", i)
			i++
			return err == nil
		})
		return err == nil
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: messages: required", ErrMalformedBody)
	}
	return err
}

// response visits choices[].message.content.
func (w *walker) response(root gjson.Result) error {
	found := false
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		if !strings.EqualFold(k.Str, "choices") {
			return true
		}
		found = true
		if !v.IsArray() {
			err = fmt.Errorf("%w: choices: want an array", ErrMalformedBody)
			return false
		}
		i := 0
		v.ForEach(func(_, choice gjson.Result) bool {
			if !choice.IsObject() {
				err = fmt.Errorf("%w: choices[%d]: want an object", ErrMalformedBody, i)
				return false
			}
			choice.ForEach(func(k, msg gjson.Result) bool {
				if !strings.EqualFold(k.Str, "message") || msg.Type == gjson.Null {
					return true
				}
				err = w.message(msg, "choices[%d].message", i)
				return err == nil
			})
			i++
			return err == nil
		})
		return err == nil
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: choices: required", ErrMalformedBody)
	}
	return err
}

// message visits the content keys of one message; where is a format for
// its path with the index i.
func (w *walker) message(msg gjson.Result, where string, i int) error {
	if !msg.IsObject() {
		return fmt.Errorf("%w: "+where+": want an object", ErrMalformedBody, i)
	}
	var err error
	msg.ForEach(func(k, content gjson.Result) bool {
		if !strings.EqualFold(k.Str, "content") {
			return true
		}
		switch {
		case content.Type == gjson.String:
			err = w.text(content)
		case content.Type == gjson.Null:
		case content.IsArray():
			err = w.parts(content, where, i)
		default:
			err = fmt.Errorf("%w: "+where+".content: want a string, an array of parts or null", ErrMalformedBody, i)
		}
		return err == nil
	})
	return err
}

// parts visits the text of each content part.
func (w *walker) parts(content gjson.Result, where string, i int) error {
	var err error
	j := 0
	content.ForEach(func(_, part gjson.Result) bool {
		if !part.IsObject() {
			err = fmt.Errorf("%w: "+where+".content[%d]: want an object", ErrMalformedBody, i, j)
			return false
		}
		part.ForEach(func(k, t gjson.Result) bool {
			if !strings.EqualFold(k.Str, "text") {
				return true
			}
			switch t.Type {
			case gjson.String:
				err = w.text(t)
			case gjson.Null:
			default:
				err = fmt.Errorf("%w: "+where+".content[%d].text: want a string", ErrMalformedBody, i, j)
			}
			return err == nil
		})
		j++
		return err == nil
	})
	return err
}

// text evaluates one JSON string value and records its rewrite if redacted.
func (w *walker) text(v gjson.Result) error {
	repl, changed := w.e.scanText(v.Str, w.sc, w.redact)
	if !changed {
		return nil
	}
	end := v.Index + len(v.Raw)
	if v.Index <= 0 || end > len(w.body) || w.body[v.Index] != '"' || w.body[end-1] != '"' {
		return fmt.Errorf("redact: cannot locate the string at offset %d", v.Index)
	}
	start := len(w.sc.enc)
	w.sc.enc = jsonw.AppendString(w.sc.enc, repl)
	w.sc.edits = append(w.sc.edits, edit{v.Index, end, start, len(w.sc.enc)})
	return nil
}
