package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/jsonw"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// This file turns the chat.completion.chunk frames the wrapped adapter's
// stream appends into the Responses API's event sequence, each frame
// "event: NAME\ndata: {"type":"NAME","sequence_number":N,...}\n\n":
//
//	first chunk        → response.created, response.in_progress
//	content delta      → (response.output_item.added message,
//	                      response.content_part.added) response.output_text.delta
//	refusal delta      → the same with a refusal part, response.refusal.delta
//	new tool call      → response.output_item.added function_call
//	tool argument delta→ response.function_call_arguments.delta
//	another item starts→ the open item's *.done events, response.output_item.done
//	[DONE]             → the open item's done events, then response.completed
//	                     (response.incomplete for length or content_filter)
//	                     carrying the whole response with usage
//	error frame        → error, response.failed, and the error returned
//
// Items are closed as the next one starts, as OpenAI streams them; a
// delta for an item already closed (chat never sends one) is kept in the
// final response but not streamed.

// Item kinds of the stream.
const (
	kindText    = "output_text"
	kindRefusal = "refusal"
	kindCall    = "function_call"
)

// sItem is one output item of the stream.
type sItem struct {
	kind   string
	id     string
	index  int
	text   strings.Builder // text, refusal or arguments
	callID string
	name   string
	closed bool
}

// stream implements provider.Stream for the Responses API.
type stream struct {
	b       *bridge
	inner   provider.Stream
	reqBody []byte
	model   string
	id      string
	created int64

	scratch []byte
	br      bytes.Reader
	rd      *sse.Reader

	seq       int64
	started   bool
	done      bool
	failed    bool
	items     []*sItem
	cur       *sItem
	calls     map[int64]*sItem // chat tool call index → item
	finishRsn string
	usage     gjson.Result // the chat usage object, copied
	errCode   string
	errMsg    string
}

// NewStream wraps the wrapped adapter's stream of r.Inner.
func (b *bridge) NewStream(r *provider.Request) provider.Stream {
	inner := b.innerRequest(r)
	s := &stream{
		b: b, inner: b.inner.NewStream(inner), reqBody: r.Body, model: r.Model,
		id: b.newID("resp_"), created: b.now().Unix(),
	}
	s.rd = sse.NewReader(&s.br)
	return s
}

// Event hands ev to the wrapped stream and translates what it appended.
func (s *stream) Event(dst []byte, ev sse.Event) ([]byte, error) {
	if s.done || s.failed {
		return dst, nil
	}
	var err error
	s.scratch, err = s.inner.Event(s.scratch[:0], ev)
	if err != nil && errors.Is(err, provider.ErrMalformedEvent) {
		// What was appended for it is not sent (provider.Stream).
		return dst, fmt.Errorf("responses bridge: %w", err)
	}
	dst = s.translate(dst, s.scratch)
	if err != nil {
		return s.fail(dst), err
	}
	return dst, nil
}

// Finish finishes the wrapped stream; the closing events go out only when
// it ended cleanly.
func (s *stream) Finish(dst []byte) ([]byte, error) {
	if s.done || s.failed {
		return dst, nil
	}
	var err error
	s.scratch, err = s.inner.Finish(s.scratch[:0])
	if err != nil {
		return dst, err
	}
	dst = s.translate(dst, s.scratch)
	if !s.done && !s.failed {
		dst = s.close(dst)
	}
	return dst, nil
}

// Model is the model that answered.
func (s *stream) Model() string {
	if m := s.inner.Model(); m != "" {
		return m
	}
	return s.model
}

// Usage is the wrapped stream's.
func (s *stream) Usage() provider.Usage { return s.inner.Usage() }

// FinishReasons are the wrapped stream's (chat's vocabulary).
func (s *stream) FinishReasons() []string { return s.inner.FinishReasons() }

// Content is the wrapped stream's: its first content delta is translated
// in the same call.
func (s *stream) Content() bool { return s.inner.Content() }

// Done reports whether response.completed (or response.incomplete) went out.
func (s *stream) Done() bool { return s.done }

// translate turns the chat frames in frames into Responses events.
func (s *stream) translate(dst, frames []byte) []byte {
	if len(frames) == 0 {
		return dst
	}
	s.br.Reset(frames)
	s.rd.Reset(&s.br)
	for !s.done {
		ev, err := s.rd.Next()
		if err != nil {
			break // io.EOF: the adapter appends whole frames only
		}
		if len(ev.Data) == 0 {
			continue // keep-alives: the Responses stream has its own events
		}
		if sse.IsDone(ev.Data) {
			dst = s.close(dst)
			break
		}
		dst = s.chunk(dst, ev.Data)
	}
	return dst
}

// chunk translates one chat chunk.
func (s *stream) chunk(dst, data []byte) []byte {
	c := gjson.ParseBytes(data)
	if e := c.Get("error"); e.Exists() && e.Type != gjson.Null {
		s.errMsg = e.Get("message").String()
		if e.Type == gjson.String {
			s.errMsg = e.Str
		}
		s.errCode = e.Get("code").String()
		if s.errCode == "" {
			s.errCode = e.Get("type").String()
		}
		return dst
	}
	if m := c.Get("model").String(); m != "" && !s.started {
		s.model = m
	}
	dst = s.start(dst)
	if u := c.Get("usage"); u.IsObject() {
		s.usage = gjson.Parse(u.Raw) // a copy: frames are reused
	}
	choice := c.Get("choices.0")
	if !choice.Exists() {
		return dst
	}
	d := choice.Get("delta")
	if t := d.Get("content"); t.Type == gjson.String && t.Str != "" {
		dst = s.textDelta(dst, kindText, t.Str)
	}
	if t := d.Get("refusal"); t.Type == gjson.String && t.Str != "" {
		dst = s.textDelta(dst, kindRefusal, t.Str)
	}
	d.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		dst = s.toolDelta(dst, tc)
		return true
	})
	if fr := choice.Get("finish_reason"); fr.Type == gjson.String && fr.Str != "" {
		s.finishRsn = fr.Str
	}
	return dst
}

// start emits response.created and response.in_progress once.
func (s *stream) start(dst []byte) []byte {
	if s.started {
		return dst
	}
	s.started = true
	r := skeleton(s.reqBody, s.id, s.created, s.model, "in_progress")
	dst = s.withResponse(dst, "response.created", r)
	return s.withResponse(dst, "response.in_progress", r)
}

// open writes an event's head up to its sequence number; the caller adds
// members and closes it with end.
func (s *stream) open(dst []byte, typ string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\ndata: {\"type\":\""...)
	dst = append(dst, typ...)
	dst = append(dst, `","sequence_number":`...)
	dst = strconv.AppendInt(dst, s.seq, 10)
	s.seq++
	return dst
}

func end(dst []byte) []byte { return append(dst, "}\n\n"...) }

// itemRef appends item_id and output_index.
func itemRef(dst []byte, it *sItem) []byte {
	dst = append(dst, `,"item_id":`...)
	dst = jsonw.AppendString(dst, it.id)
	dst = append(dst, `,"output_index":`...)
	return strconv.AppendInt(dst, int64(it.index), 10)
}

// withMember appends an event whose one member besides the head is name,
// holding v encoded.
func (s *stream) withMember(dst []byte, typ, prefix string, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("null") // the bridge's own types always marshal
	}
	dst = s.open(dst, typ)
	dst = append(dst, prefix...)
	dst = append(dst, b...)
	return end(dst)
}

func (s *stream) withResponse(dst []byte, typ string, r *response) []byte {
	return s.withMember(dst, typ, `,"response":`, r)
}

// newItem closes the open item and starts one of kind.
func (s *stream) newItem(dst []byte, kind string) ([]byte, *sItem) {
	dst = s.closeCur(dst)
	it := &sItem{kind: kind, index: len(s.items)}
	if kind == kindCall {
		it.id = s.b.newID("fc_")
	} else {
		it.id = s.b.newID("msg_")
	}
	s.items = append(s.items, it)
	s.cur = it
	return dst, it
}

// textDelta emits a text or refusal delta, opening a message item first
// when the open item is not one of that kind.
func (s *stream) textDelta(dst []byte, kind, text string) []byte {
	it := s.cur
	if it == nil || it.kind != kind {
		dst, it = s.newItem(dst, kind)
		dst = s.open(dst, "response.output_item.added")
		dst = append(dst, `,"output_index":`...)
		dst = strconv.AppendInt(dst, int64(it.index), 10)
		dst = append(dst, `,"item":{"type":"message","id":`...)
		dst = jsonw.AppendString(dst, it.id)
		dst = append(dst, `,"status":"in_progress","role":"assistant","content":[]}`...)
		dst = end(dst)
		dst = s.open(dst, "response.content_part.added")
		dst = itemRef(dst, it)
		if kind == kindText {
			dst = append(dst, `,"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}`...)
		} else {
			dst = append(dst, `,"content_index":0,"part":{"type":"refusal","refusal":""}`...)
		}
		dst = end(dst)
	}
	it.text.WriteString(text)
	if kind == kindText {
		dst = s.open(dst, "response.output_text.delta")
		dst = itemRef(dst, it)
		dst = append(dst, `,"content_index":0,"delta":`...)
		dst = jsonw.AppendString(dst, text)
		dst = append(dst, `,"logprobs":[]`...)
	} else {
		dst = s.open(dst, "response.refusal.delta")
		dst = itemRef(dst, it)
		dst = append(dst, `,"content_index":0,"delta":`...)
		dst = jsonw.AppendString(dst, text)
	}
	return end(dst)
}

// toolDelta handles one tool_calls entry of a chunk.
func (s *stream) toolDelta(dst []byte, tc gjson.Result) []byte {
	idx := tc.Get("index").Int()
	args := tc.Get("function.arguments").String()
	it, ok := s.calls[idx]
	if !ok {
		if s.calls == nil {
			s.calls = make(map[int64]*sItem, 2)
		}
		dst, it = s.newItem(dst, kindCall)
		it.callID = tc.Get("id").String()
		it.name = tc.Get("function.name").String()
		s.calls[idx] = it
		dst = s.withMember(dst, "response.output_item.added", `,"output_index":`+strconv.Itoa(it.index)+`,"item":`, it.callItem("in_progress", ""))
	}
	if args == "" {
		return dst
	}
	it.text.WriteString(args)
	if it.closed {
		return dst
	}
	dst = s.open(dst, "response.function_call_arguments.delta")
	dst = itemRef(dst, it)
	dst = append(dst, `,"delta":`...)
	dst = jsonw.AppendString(dst, args)
	return end(dst)
}

func (it *sItem) callItem(status, args string) functionCallItem {
	return functionCallItem{Type: "function_call", ID: it.id, CallID: it.callID, Name: it.name, Arguments: args, Status: status}
}

// outputItem is the item as the final response holds it.
func (it *sItem) outputItem(status string) any {
	switch it.kind {
	case kindCall:
		return it.callItem("completed", it.text.String())
	case kindRefusal:
		return messageItem{Type: "message", ID: it.id, Status: status, Role: "assistant", Content: []any{refusalPart{Type: "refusal", Refusal: it.text.String()}}}
	}
	return messageItem{Type: "message", ID: it.id, Status: status, Role: "assistant", Content: []any{newTextPart(it.text.String())}}
}

// closeCur emits the open item's done events.
func (s *stream) closeCur(dst []byte) []byte {
	it := s.cur
	if it == nil {
		return dst
	}
	s.cur = nil
	it.closed = true
	text := it.text.String()
	switch it.kind {
	case kindCall:
		dst = s.open(dst, "response.function_call_arguments.done")
		dst = itemRef(dst, it)
		dst = append(dst, `,"name":`...)
		dst = jsonw.AppendString(dst, it.name)
		dst = append(dst, `,"arguments":`...)
		dst = jsonw.AppendString(dst, text)
		dst = end(dst)
	case kindText:
		dst = s.open(dst, "response.output_text.done")
		dst = itemRef(dst, it)
		dst = append(dst, `,"content_index":0,"text":`...)
		dst = jsonw.AppendString(dst, text)
		dst = append(dst, `,"logprobs":[]`...)
		dst = end(dst)
		dst = s.withMember(dst, "response.content_part.done", string(itemRef(nil, it))+`,"content_index":0,"part":`, newTextPart(text))
	case kindRefusal:
		dst = s.open(dst, "response.refusal.done")
		dst = itemRef(dst, it)
		dst = append(dst, `,"content_index":0,"refusal":`...)
		dst = jsonw.AppendString(dst, text)
		dst = end(dst)
		dst = s.withMember(dst, "response.content_part.done", string(itemRef(nil, it))+`,"content_index":0,"part":`, refusalPart{Type: "refusal", Refusal: text})
	}
	return s.withMember(dst, "response.output_item.done", `,"output_index":`+strconv.Itoa(it.index)+`,"item":`, it.outputItem("completed"))
}

// final is the response object as the stream ends.
func (s *stream) final(status string) *response {
	r := skeleton(s.reqBody, s.id, s.created, s.Model(), status)
	for _, it := range s.items {
		r.Output = append(r.Output, it.outputItem("completed"))
	}
	return r
}

// close ends a complete stream: the open item's done events, then
// response.completed or response.incomplete with usage.
func (s *stream) close(dst []byte) []byte {
	dst = s.start(dst)
	dst = s.closeCur(dst)
	r := s.final("completed")
	r.finish(s.finishRsn)
	if s.usage.Exists() {
		r.Usage = chatUsage(s.usage)
	} else {
		u := s.inner.Usage()
		r.Usage = &usage{
			InputTokens: u.InputTokens, InputTokensDetails: cachedDetails{CachedTokens: u.CacheReadTokens},
			OutputTokens: u.OutputTokens, TotalTokens: u.InputTokens + u.OutputTokens,
		}
	}
	r.markIncomplete()
	s.done = true
	return s.withResponse(dst, "response."+r.Status, r)
}

// fail ends a stream the upstream broke off with an error: an error event,
// then response.failed.
func (s *stream) fail(dst []byte) []byte {
	s.failed = true
	code, msg := s.errCode, s.errMsg
	if code == "" {
		code = provider.ErrTypeServer
	}
	if msg == "" {
		msg = "the upstream stream failed"
	}
	dst = s.start(dst)
	dst = s.open(dst, "error")
	dst = append(dst, `,"code":`...)
	dst = jsonw.AppendString(dst, code)
	dst = append(dst, `,"message":`...)
	dst = jsonw.AppendString(dst, msg)
	dst = append(dst, `,"param":null`...)
	dst = end(dst)
	r := s.final("failed")
	r.Error = &responseError{Code: code, Message: msg}
	return s.withResponse(dst, "response.failed", r)
}
