package sim

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
)

func FuzzParseFault(f *testing.F) {
	for _, s := range []string{"none", "error:503", "error:status=502,count=3", "rate_limit:5", "slow_stream:delay=150ms,count=1",
		"reset_mid_stream:3", "stream_error:after_chunks=2", "hang:5", "error:503,5", ":", "down:count=1",
		"stall:5", "no_done", "malformed:2", "cut:4,count=1", "slow_first_content:20s", "context_length:8000",
		"content_policy:content_filter", "refuse_prefill", "model=gpt-4o:stall:5", "model=llama3:8b:cut:2",
		"error:500,count=1,model=a:b", "model=:x", "model=a:stall:model=b", "stall:model= x "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := ParseFault(spec)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("ParseFault(%q) returned an invalid fault: %v", spec, err)
		}
		again, err := ParseFault(got.String())
		if err != nil || again != got {
			t.Fatalf("round trip of %q via %q: %+v, %v", spec, got.String(), again, err)
		}
	})
}

func FuzzFaultJSON(f *testing.F) {
	for _, s := range []string{`{"kind":"none"}`, `{"kind":"slow_stream","delay":"2s","count":1}`, `{"kind":"error","status":503}`, `{}`, `{"delay":"x"}`, `null`,
		`{"kind":"stall","model":"gpt-4o","after_chunks":5}`, `{"kind":"context_length","context_window":9,"code":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var x Fault
		if err := json.Unmarshal(b, &x); err != nil {
			return
		}
		out, err := json.Marshal(x)
		if err != nil {
			t.Fatalf("marshal %+v: %v", x, err)
		}
		var y Fault
		if err := json.Unmarshal(out, &y); err != nil || y != x {
			t.Fatalf("round trip %s -> %s: %+v, %v", b, out, y, err)
		}
	})
}

// chatSeeds are request bodies of both kinds for the parser fuzz targets.
func chatSeeds() []string {
	return []string{
		validChat(KindOpenAI, false), validChat(KindOpenAI, true), validChat(KindAnthropic, false), validChat(KindAnthropic, true),
		`{"model":"gpt-4o-mini","tools":[` + oaWeatherTool + `],"tool_choice":"required","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":[{"type":"text","text":"weather"}]}]}`,
		`{"model":"gpt-4o-mini","max_tokens":1,"stop":"a","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}]}`,
		`{"model":"m","max_tokens":3,"tools":[` + anUnitTool + `],"tool_choice":{"type":"tool","name":"get_unit"},"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		`{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"ok"}]}]}`,
		`{"model":`, `[]`, `null`, `{"messages":{}}`,
	}
}

// fuzzParser checks that any body either fails validation with an error or
// yields an answer whose every rendering is valid JSON.
func fuzzParser(f *testing.F, k Kind, parse func([]byte) (*conversation, *apiError)) {
	for _, s := range chatSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, perr := parse(body)
		if perr != nil {
			if perr.message == "" || perr.typ == "" {
				t.Fatalf("empty error for %q", body)
			}
			return
		}
		p := makePlan(k, c)
		var whole []byte
		var frames [][]byte
		if k == KindAnthropic {
			whole, frames = anthropicMessage(c, p, "msg_x"), anthropicFrames(c, p, "msg_x")
		} else {
			whole, frames = openaiCompletion(c, p, "chatcmpl-x", 1), openaiFrames(c, p, "chatcmpl-x", 1)
		}
		if !json.Valid(whole) {
			t.Fatalf("invalid JSON answer %s", whole)
		}
		if len(frames) < 2 {
			t.Fatalf("only %d frames", len(frames))
		}
		for _, fr := range frames {
			i := bytes.Index(fr, []byte("data: "))
			data := bytes.TrimSuffix(fr[i+len("data: "):], []byte("\n\n"))
			if string(data) != "[DONE]" && !json.Valid(data) {
				t.Fatalf("invalid frame %q", fr)
			}
		}
	})
}

func FuzzParseOpenAI(f *testing.F)    { fuzzParser(f, KindOpenAI, parseOpenAI) }
func FuzzParseAnthropic(f *testing.F) { fuzzParser(f, KindAnthropic, parseAnthropic) }

// fuzzAPI checks, for one of the APIs beyond chat, that any body either
// fails validation with an error or yields an answer (and, for a stream,
// frames) of valid JSON.
func fuzzAPI(f *testing.F, k Kind, api provider.API, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	s := New(Options{Kind: k})
	f.Fuzz(func(t *testing.T, body []byte) {
		c, perr := s.parse(api, body)
		if perr != nil {
			if perr.message == "" || perr.typ == "" {
				t.Fatalf("empty error for %q", body)
			}
			return
		}
		p := s.plan(api, c)
		if whole := s.answerBody(api, c, p); !json.Valid(whole) {
			t.Fatalf("invalid JSON answer %s", whole)
		}
		if !c.stream {
			return
		}
		frames := s.answerFrames(api, c, p)
		if len(frames) < 2 {
			t.Fatalf("only %d frames", len(frames))
		}
		for _, fr := range frames {
			i := bytes.Index(fr, []byte("data: "))
			data := bytes.TrimSuffix(fr[i+len("data: "):], []byte("\n\n"))
			if string(data) != "[DONE]" && !json.Valid(data) {
				t.Fatalf("invalid frame %q", fr)
			}
		}
	})
}

func FuzzParseResponses(f *testing.F) {
	fuzzAPI(f, KindOpenAI, provider.APIResponses,
		`{"model":"gpt-4o","input":"hi","stream":true,"instructions":"x","max_output_tokens":16}`,
		`{"model":"gpt-4o","input":[{"role":"user","content":[{"type":"input_text","text":"weather?"}]}],"tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{"n":{"type":"integer"}}}}],"tool_choice":"required"}`,
		`{"model":"gpt-4o","store":false,"input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"}],"stream":true}`,
		`{"model":"gpt-4o","input":"x","previous_response_id":"resp_x"}`, `{"model":"gpt-4o"}`, `{"input":[]}`)
}

func FuzzParseEmbeddings(f *testing.F) {
	fuzzAPI(f, KindOpenAI, provider.APIEmbeddings,
		`{"model":"text-embedding-3-small","input":"hi","dimensions":4,"encoding_format":"base64"}`,
		`{"model":"m","input":[[1,2],[3]]}`, `{"model":"m","input":[1,2]}`, `{"model":"m","input":["a",""]}`)
}

func FuzzParseCompletions(f *testing.F) {
	fuzzAPI(f, KindOpenAI, provider.APICompletions,
		`{"model":"m","prompt":"hi","stream":true,"stream_options":{"include_usage":true},"n":2,"stop":["x"]}`,
		`{"model":"m","prompt":["a","b"],"max_tokens":0}`, `{"model":"m","prompt":[[1],[2,3]]}`, `{"model":"m","prompt":[]}`)
}

func FuzzParseCountTokens(f *testing.F) {
	fuzzAPI(f, KindAnthropic, provider.APICountTokens,
		`{"model":"m","system":"s","messages":[{"role":"user","content":"hi"}]}`, `{"model":"m","messages":[]}`)
}
