package policy

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/tidwall/gjson"
)

func FuzzEvaluateRequest(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"role":"user","content":"I will kill you"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"Ｋｉｌｌ ｙｏｕ, you idiot"},{"type":"image_url","image_url":{"url":"x"}}]}]}`,
		`{"model":"m","messages":[{"role":"system","content":"be nice"},{"role":"assistant","content":null},{"role":"tool","content":"k.i.l.l y.o.u"}]}`,
		`{"messages":[{"role":"user","content":"\u006bill \"you\"\n\ud83d\ude00 \u2028"}]}`,
		`{"messages":[{"role":"user","content":"kill you \xff\xfe bad utf8"}]}`,
		`{"Messages":[{"CONTENT":"shoot you","content":"heil hitler"}]}`,
		`  {"messages":[]}  `,
		`{"messages":"x"}`,
		`[1,2]`,
		`not json`,
		``,
	} {
		f.Add([]byte(s))
	}
	flag, err := New([]config.Policy{pol("f", "flag", allCategories...), pol("b", "block", "violence")})
	if err != nil {
		f.Fatal(err)
	}
	redact, err := New([]config.Policy{pol("r", "redact", allCategories...)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in := append([]byte(nil), body...)
		out, results, _, err := flag.EvaluateRequest(body)
		if err == nil {
			if len(results) != 2 {
				t.Fatalf("%d results", len(results))
			}
			if len(out) != len(body) || len(out) > 0 && &out[0] != &body[0] {
				t.Fatal("flag and block must return the body itself")
			}
		}
		out, results, _, rerr := redact.EvaluateRequest(body)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("engines disagree on validity: %v vs %v", err, rerr)
		}
		if string(body) != string(in) {
			t.Fatal("input was modified")
		}
		if rerr != nil {
			return
		}
		if len(results) != 1 {
			t.Fatalf("%d results", len(results))
		}
		if !gjson.ValidBytes(out) {
			t.Fatalf("invalid JSON out of %q: %q", body, out)
		}
		if json.Valid(body) && !json.Valid(out) {
			t.Fatalf("encoding/json rejects output of %q: %q", body, out)
		}
		if utf8.Valid(body) && !utf8.Valid(out) {
			t.Fatalf("redaction produced invalid UTF-8 from %q: %q", body, out)
		}
		if redacted, changed := results[0].Outcome == OutcomeRedacted, string(out) != string(body); redacted != changed {
			t.Fatalf("outcome %s but body changed = %v: %q -> %q", results[0].Outcome, changed, body, out)
		}
	})
}

func FuzzEvaluateRequestAPI(f *testing.F) {
	for _, tc := range apiCases {
		f.Add(byte(tc.api), []byte(tc.body))
	}
	for _, s := range []string{
		`{"system":[{"type":"text","text":"kill you \xff"}],"messages":[{"role":"user","content":[{"type":"tool_result","content":[{"type":"text","text":"Ｋｉｌｌ ｙｏｕ"}]}]}]}`,
		`{"input":[{"type":"function_call_output","output":[{"type":"input_text","text":"k.i.l.l y.o.u"}]}]}`,
		`{"input":["kill you",[1,2],3],"prompt":["shoot you"]}`,
		`{"messages":[],"input":5,"prompt":null}`,
		`not json`,
	} {
		for api := range provider.NumAPIs + 1 {
			f.Add(byte(api), []byte(s))
		}
	}
	flag, err := New([]config.Policy{pol("f", "flag", allCategories...), pol("b", "block", "violence")})
	if err != nil {
		f.Fatal(err)
	}
	redact, err := New([]config.Policy{pol("r", "redact", allCategories...)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a byte, body []byte) {
		// One value past the last API checks the unknown-API error.
		api := provider.API(a % byte(provider.NumAPIs+1))
		in := append([]byte(nil), body...)
		out, results, _, err := flag.EvaluateRequestAPI(api, body)
		if api == provider.NumAPIs {
			if err == nil || errors.Is(err, ErrMalformedBody) {
				t.Fatalf("unknown API: err = %v", err)
			}
			return
		}
		if err == nil {
			if len(results) != 2 {
				t.Fatalf("%d results", len(results))
			}
			if len(out) != len(body) || len(out) > 0 && &out[0] != &body[0] {
				t.Fatal("flag and block must return the body itself")
			}
		} else if !errors.Is(err, ErrMalformedBody) {
			t.Fatalf("error not wrapping ErrMalformedBody: %v", err)
		}
		if api == provider.APIChat {
			_, want, _, cerr := flag.EvaluateRequest(body)
			if (err == nil) != (cerr == nil) || !reflect.DeepEqual(results, want) {
				t.Fatalf("chat: EvaluateRequestAPI %+v %v, EvaluateRequest %+v %v", results, err, want, cerr)
			}
		}
		out, results, _, rerr := redact.EvaluateRequestAPI(api, body)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("engines disagree on validity: %v vs %v", err, rerr)
		}
		if string(body) != string(in) {
			t.Fatal("input was modified")
		}
		if rerr != nil {
			return
		}
		if len(results) != 1 {
			t.Fatalf("%d results", len(results))
		}
		if !gjson.ValidBytes(out) {
			t.Fatalf("invalid JSON out of %q: %q", body, out)
		}
		if json.Valid(body) && !json.Valid(out) {
			t.Fatalf("encoding/json rejects output of %q: %q", body, out)
		}
		if utf8.Valid(body) && !utf8.Valid(out) {
			t.Fatalf("redaction produced invalid UTF-8 from %q: %q", body, out)
		}
		if redacted, changed := results[0].Outcome == OutcomeRedacted, string(out) != string(body); redacted != changed {
			t.Fatalf("outcome %s but body changed = %v: %q -> %q", results[0].Outcome, changed, body, out)
		}
		// Redaction rewrites strings into strings: the output keeps the
		// shape the API's reader accepted.
		if _, _, _, err := redact.EvaluateRequestAPI(api, out); err != nil {
			t.Fatalf("redacted body %q of %q is unreadable: %v", out, body, err)
		}
	})
}
