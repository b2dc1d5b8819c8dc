package gateway

import (
	"strings"
	"testing"
	"unicode/utf8"
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
