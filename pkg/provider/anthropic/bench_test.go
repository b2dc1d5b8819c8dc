package anthropic

import (
	"context"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// typicalRequest is a ~2 KB chat request: a system prompt, a few turns, a
// tool round trip and two tool definitions.
func typicalRequest(tb testing.TB) []byte {
	tb.Helper()
	body := `{"model":"gpt-4o-mini","temperature":0.2,"max_tokens":512,"stream":true,"stream_options":{"include_usage":true},
"messages":[
{"role":"system","content":"You are a concise assistant for a travel agency. Answer in plain English, cite prices in euros, and never invent availability: call the tools instead."},
{"role":"user","content":"I want to fly from Paris to Rome next Friday and come back on Sunday. What are my options, and what will the weather be like?"},
{"role":"assistant","content":"Let me look that up for you.","tool_calls":[
 {"id":"call_flights","type":"function","function":{"name":"search_flights","arguments":"{\"from\":\"CDG\",\"to\":\"FCO\",\"depart\":\"2025-06-13\",\"return\":\"2025-06-15\"}"}},
 {"id":"call_weather","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\",\"days\":3}"}}]},
{"role":"tool","tool_call_id":"call_flights","content":"[{\"carrier\":\"AF\",\"depart\":\"07:05\",\"price\":189},{\"carrier\":\"AZ\",\"depart\":\"09:40\",\"price\":156},{\"carrier\":\"U2\",\"depart\":\"12:15\",\"price\":98}]"},
{"role":"tool","tool_call_id":"call_weather","content":"{\"fri\":\"sunny 27C\",\"sat\":\"sunny 29C\",\"sun\":\"cloudy 24C\"}"},
{"role":"assistant","content":"There are three direct flights on Friday: Air France at 07:05 for 189 EUR, ITA at 09:40 for 156 EUR and easyJet at 12:15 for 98 EUR. Rome will be sunny and warm, 27 to 29 degrees, turning cloudy on Sunday."},
{"role":"user","content":"Book the cheapest one please, and tell me what I should pack for that weather."}],
"tools":[
{"type":"function","function":{"name":"search_flights","description":"Search direct flights between two airports.","parameters":{"type":"object","properties":{"from":{"type":"string"},"to":{"type":"string"},"depart":{"type":"string","format":"date"},"return":{"type":"string","format":"date"}},"required":["from","to","depart"]}}},
{"type":"function","function":{"name":"get_weather","description":"Weather forecast for a city.","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city"]}}},
{"type":"function","function":{"name":"book_flight","description":"Book a flight found by search_flights.","parameters":{"type":"object","properties":{"carrier":{"type":"string"},"depart":{"type":"string"}},"required":["carrier","depart"]}}}],
"tool_choice":"auto","user":"customer-42"}`
	if n := len(body); n < 1800 || n > 2600 {
		tb.Fatalf("typical request is %d bytes, want about 2 KB", n)
	}
	return []byte(body)
}

func BenchmarkChatRequest(b *testing.B) {
	body := typicalRequest(b)
	a := New()
	ep := testEndpoint()
	r := &provider.Request{Body: body, Model: testModel, Stream: true}
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.ChatRequest(ctx, ep, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChatResponse translates a non-streaming answer with text and a
// tool call.
func BenchmarkChatResponse(b *testing.B) {
	body := typicalResponse(b)
	a := New()
	r := &provider.Request{Model: testModel}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.ChatResponse(body, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewStream measures what a streamed answer costs before its first
// event: reading stream_options from the client's body.
func BenchmarkNewStream(b *testing.B) {
	r := &provider.Request{Body: typicalRequest(b), Model: testModel, Stream: true}
	a := New()
	b.ReportAllocs()
	for b.Loop() {
		if s := a.NewStream(r); s == nil {
			b.Fatal("no stream")
		}
	}
}

func BenchmarkStreamEvent(b *testing.B) {
	s := New().NewStream(&provider.Request{Body: typicalRequest(b), Model: testModel, Stream: true})
	start := sse.Event{Name: []byte("message_start"), Data: []byte(`{"type":"message_start","message":{"id":"msg_01Bench","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}`)}
	dst, err := s.Event(nil, start)
	if err != nil {
		b.Fatal(err)
	}
	ev := sse.Event{
		Name: []byte("content_block_delta"),
		Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the weather in Rome will be sunny and warm,"}}`),
	}
	b.SetBytes(int64(len(ev.Data)))
	b.ReportAllocs()
	for b.Loop() {
		dst, err = s.Event(dst[:0], ev)
		if err != nil {
			b.Fatal(err)
		}
	}
	if !strings.Contains(string(dst), "sunny and warm") {
		b.Fatalf("unexpected chunk %s", dst)
	}
}
