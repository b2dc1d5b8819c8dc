package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keeptrusts/gateway/pkg/provider"
)

func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return append(out.Bytes(), '\n')
}

func TestRequestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/requests/*.json")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := translateRequest(in, 0)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(f, ".json")+".golden.json", indentJSON(t, got))
		})
	}
}

func TestResponseGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/responses/*.json")
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			a := testAdapter()
			res, err := a.ChatResponse(in, &provider.Request{Model: "anthropic.claude-3-5-sonnet-20241022-v2:0"})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(f, ".json")+".golden.json", indentJSON(t, res.Body))
			var back struct {
				Usage struct {
					PromptTokens int64 `json:"prompt_tokens"`
				} `json:"usage"`
				Choices []struct {
					FinishReason string `json:"finish_reason"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(res.Body, &back); err != nil {
				t.Fatal(err)
			}
			if back.Usage.PromptTokens != res.Usage.InputTokens || len(res.FinishReasons) != 1 || res.FinishReasons[0] != back.Choices[0].FinishReason {
				t.Fatalf("Response fields disagree with its body: %+v", res)
			}
		})
	}
}

// runStream feeds an encoded event stream through the reader and the
// translator as the router does, and renders what the client gets.
func runStream(t testing.TB, body []byte, includeUsage bool) (out string, s provider.Stream, err error) {
	a := testAdapter()
	req := `{"model":"m","stream":true}`
	if includeUsage {
		req = `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`
	}
	s = a.NewStream(&provider.Request{Body: []byte(req), Model: "anthropic.claude-3-haiku-20240307-v1:0", Stream: true})
	rd := a.NewEventReader(bytes.NewReader(body))
	var b []byte
	for {
		ev, rerr := rd.Next()
		if errors.Is(rerr, io.EOF) {
			b, err = s.Finish(b)
			return string(b), s, err
		}
		if rerr != nil {
			return string(b), s, rerr
		}
		n := len(b)
		b, err = s.Event(b, ev)
		if err != nil {
			if errors.Is(err, provider.ErrMalformedEvent) {
				b = b[:n]
			}
			return string(b), s, err
		}
	}
}

func TestStreamGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/streams/*.txt")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, s, err := runStream(t, encodeFrames(t, string(in)), true)
			u := s.Usage()
			out += fmt.Sprintf("# content=%v done=%v finish=%v usage=%d/%d cached=%d err=%v\n", s.Content(), s.Done(), s.FinishReasons(), u.InputTokens, u.OutputTokens, u.CacheReadTokens, err)
			golden(t, strings.TrimSuffix(f, ".txt")+".golden", []byte(out))
			for _, fr := range strings.Split(strings.TrimSpace(out), "\n\n") {
				if strings.HasPrefix(fr, "# ") {
					continue
				}
				d, ok := strings.CutPrefix(fr, "data: ")
				if !ok || d != "[DONE]" && !json.Valid([]byte(d)) {
					t.Fatalf("frame is not an SSE data frame of JSON: %q", fr)
				}
			}
		})
	}
}

func TestEventReaderBrokenBodies(t *testing.T) {
	whole := encodeFrames(t, "event messageStart {\"role\":\"assistant\"}\nevent contentBlockDelta {\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}\n")
	corrupt := bytes.Clone(whole)
	corrupt[len(corrupt)-1] ^= 0xff // the first... no: the last message's CRC
	huge := bytes.Clone(whole)
	huge[0] = 0x7f // a length far over the limit
	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{name: "cut inside a message", body: whole[:len(whole)-3], want: io.ErrUnexpectedEOF},
		{name: "cut inside the prelude", body: whole[:5], want: io.ErrUnexpectedEOF},
		{name: "checksum", body: corrupt, want: provider.ErrMalformedEvent},
		{name: "length over the limit", body: huge, want: provider.ErrMalformedEvent},
		{name: "empty body", body: nil, want: io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd := newEventReader(bytes.NewReader(tc.body))
			var err error
			for range 10 {
				if _, err = rd.Next(); err != nil {
					break
				}
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRequestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, body, param string
	}{
		{"image by URL", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"image not base64", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,!!"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"image format", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,AAAA"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"audio part", `{"messages":[{"role":"user","content":[{"type":"input_audio"}]}]}`, "messages[0].content[0].type"},
		{"tool without id", `{"messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]}`, "messages[1].tool_call_id"},
		{"bad arguments", `{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
		{"no messages", `{"messages":[{"role":"system","content":"x"}]}`, "messages"},
		{"unknown role", `{"messages":[{"role":"critic","content":"x"}]}`, "messages[0].role"},
		{"bad tool_choice", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"t"}}],"tool_choice":{"type":"function"}}`, "tool_choice"},
		{"bad stop", `{"messages":[{"role":"user","content":"x"}],"stop":5}`, "stop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := translateRequest([]byte(tc.body), 0)
			var re *provider.RequestError
			if !errors.As(err, &re) || re.Param != tc.param {
				t.Fatalf("err = %v, want a RequestError on %s", err, tc.param)
			}
		})
	}
}

func TestDefaultMaxTokens(t *testing.T) {
	got, err := translateRequest([]byte(`{"messages":[{"role":"user","content":"x"}]}`), 512)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"inferenceConfig":{"maxTokens":512}`)) {
		t.Fatalf("body %s", got)
	}
	got, _ = translateRequest([]byte(`{"messages":[{"role":"user","content":"x"}]}`), 0)
	if bytes.Contains(got, []byte(`inferenceConfig`)) {
		t.Fatalf("no limit asked, none sent: %s", got)
	}
}

func TestErrorBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"throttling", 429, `{"message":"Too many requests, please wait before trying again."}`, `{"error":{"message":"Too many requests, please wait before trying again.","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`},
		{"validation", 400, `{"message":"Input is too long for requested model."}`, `{"error":{"message":"Input is too long for requested model.","type":"invalid_request_error","param":null,"code":null}}`},
		{"capitalised", 403, `{"Message":"User is not authorized"}`, `{"error":{"message":"User is not authorized","type":"permission_error","param":null,"code":null}}`},
		{"html never echoed", 502, `<html>bad gateway</html>`, `{"error":{"message":"bedrock upstream answered HTTP 502 Bad Gateway","type":"server_error","param":null,"code":null}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := testAdapter().ErrorBody(tc.status, []byte(tc.body))
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestEscapeModelID(t *testing.T) {
	for in, want := range map[string]string{
		"anthropic.claude-3-5-sonnet-20241022-v2:0":                                                             "anthropic.claude-3-5-sonnet-20241022-v2%3A0",
		"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0": "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0",
	} {
		if got := escapeModelID(in); got != want {
			t.Errorf("escapeModelID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec provider.TargetSpec
		want string // the field with a problem, "" for none
	}{
		{"region", provider.TargetSpec{Region: "us-east-1"}, ""},
		{"no region", provider.TargetSpec{}, "region"},
		{"bad region", provider.TargetSpec{Region: "Virginia"}, "region"},
		{"region from base_url", provider.TargetSpec{BaseURL: "https://bedrock-runtime.eu-west-3.amazonaws.com"}, ""},
		{"base_url elsewhere needs region", provider.TargetSpec{BaseURL: "http://127.0.0.1:9000"}, "region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probs := Kind.Validate(&tc.spec)
			switch {
			case tc.want == "" && len(probs) > 0:
				t.Fatalf("problems %+v", probs)
			case tc.want != "" && (len(probs) != 1 || probs[0].Field != tc.want):
				t.Fatalf("problems %+v, want one on %s", probs, tc.want)
			}
		})
	}
}

// TestChatRequestSigned: the request goes to the model's path, escaped,
// signed for service bedrock in the target's region with the credentials
// from the target's environment; the signature verifies.
func TestChatRequestSigned(t *testing.T) {
	ad, err := Kind.New(&provider.TargetSpec{ID: "b", Region: "eu-west-1", Environ: []string{"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret", "HOME=/nonexistent"}})
	if err != nil {
		t.Fatal(err)
	}
	a := ad.(*adapter)
	fixed := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return fixed }
	for _, stream := range []bool{false, true} {
		req, err := a.ChatRequest(context.Background(), &provider.Endpoint{Header: http.Header{"Authorization": {"Bearer client"}}},
			&provider.Request{Body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`), Model: "us.anthropic.claude-3-5-haiku-20241022-v1:0", Stream: stream})
		if err != nil {
			t.Fatal(err)
		}
		want := "https://bedrock-runtime.eu-west-1.amazonaws.com/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
		if stream {
			want += "-stream"
		}
		if req.URL.String() != want {
			t.Fatalf("url %s, want %s", req.URL, want)
		}
		auth := req.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/eu-west-1/bedrock/aws4_request") {
			t.Fatalf("authorization %q", auth)
		}
		// Re-sign a copy: the same signature.
		body, _ := io.ReadAll(req.Body)
		cp, _ := http.NewRequest(req.Method, req.URL.String(), bytes.NewReader(body))
		for _, h := range []string{"Content-Type", "Accept", "X-Amz-Date"} {
			cp.Header.Set(h, req.Header.Get(h))
		}
		creds, _ := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "").Retrieve(context.Background())
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, cp, hashHex(body), "bedrock", "eu-west-1", fixed); err != nil {
			t.Fatal(err)
		}
		if cp.Header.Get("Authorization") != auth {
			t.Fatalf("signature does not verify:\n%s\n%s", auth, cp.Header.Get("Authorization"))
		}
	}
}

func TestAPIKeyInsteadOfSigning(t *testing.T) {
	ad, err := Kind.New(&provider.TargetSpec{ID: "b", Region: "us-west-2", APIKey: "bedrock-api-key-123"})
	if err != nil {
		t.Fatal(err)
	}
	req, err := ad.ProbeRequest(context.Background(), &provider.Endpoint{APIKey: "bedrock-api-key-123"})
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.String() != "https://bedrock.us-west-2.amazonaws.com/foundation-models?byOutputModality=TEXT" || req.Header.Get("Authorization") != "Bearer bedrock-api-key-123" {
		t.Fatalf("probe %s %q", req.URL, req.Header.Get("Authorization"))
	}
}

// failingCreds is a credential chain that finds nothing.
type failingCreds struct{}

func (failingCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("no EC2 IMDS role found")
}

func TestMissingCredentialsFailTheRequest(t *testing.T) {
	ad := New("us-east-1", failingCreds{})
	_, err := ad.ChatRequest(context.Background(), &provider.Endpoint{}, &provider.Request{Body: []byte(`{"messages":[{"role":"user","content":"x"}]}`), Model: "m"})
	if err == nil || !strings.Contains(err.Error(), "retrieve AWS credentials") {
		t.Fatalf("err = %v", err)
	}
}
