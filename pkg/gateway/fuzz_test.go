package gateway

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// FuzzParseChat feeds the request decoder arbitrary bodies: it must never
// panic, and a model it accepts is non-empty valid UTF-8 without control
// characters (it goes into headers, spans and events).
func FuzzParseChat(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}`,
		`{"model":"gpt-4o-mini\r\nX: 1","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"../../admin","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"x","messages":[],"stream":"yes"}`,
		"{\"model\":\"gpt\xff\",\"messages\":[{}]}",
		strings.Repeat("[", 1000),
		`{"model":1,"messages":null}`,
		``, ` `, `null`, `[]`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, perr := parseChat(body)
		if perr != nil {
			if perr.Message == "" {
				t.Fatal("a refusal without a message")
			}
			return
		}
		if in.model == "" || !utf8.ValidString(in.model) || strings.ContainsAny(in.model, "\r\n\x00") {
			t.Fatalf("accepted model %q", in.model)
		}
	})
}

// FuzzParseRequest is FuzzParseChat for every API: a request accepted
// names a safe model and previous response id, and never streams on the
// APIs that cannot.
func FuzzParseRequest(f *testing.F) {
	for _, c := range []struct {
		api  provider.API
		body string
	}{
		{provider.APIMessages, `{"model":"claude-sonnet-4-20250514","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"stream":true}`},
		{provider.APICountTokens, `{"model":"claude-sonnet-4-20250514","messages":[{"role":"user","content":"hi"}]}`},
		{provider.APIResponses, `{"model":"gpt-4o-mini","input":"hi","previous_response_id":"resp_1"}`},
		{provider.APIResponses, `{"model":"gpt-4o-mini","previous_response_id":"resp_1\n"}`},
		{provider.APIEmbeddings, `{"model":"text-embedding-3-small","input":["a","b"]}`},
		{provider.APICompletions, `{"model":"gpt-3.5-turbo-instruct","prompt":"x","stream":true}`},
	} {
		f.Add(byte(c.api), []byte(c.body))
	}
	f.Fuzz(func(t *testing.T, a byte, body []byte) {
		api := provider.API(a % byte(provider.NumAPIs))
		in, perr := parseRequest(api, body)
		if perr != nil {
			if perr.Message == "" {
				t.Fatal("a refusal without a message")
			}
			return
		}
		for _, s := range []string{in.model, in.previousID} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00 ") {
				t.Fatalf("accepted %q", s)
			}
		}
		if in.model == "" || (in.stream && (api == provider.APIEmbeddings || api == provider.APICountTokens)) {
			t.Fatalf("accepted %+v on %s", in, api)
		}
	})
}
