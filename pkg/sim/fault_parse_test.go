package sim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	cases := []struct {
		spec    string
		want    Fault
		wantErr string
	}{
		{spec: "none", want: Fault{Kind: FaultNone}},
		{spec: "down", want: Fault{Kind: FaultDown}},
		{spec: "error:503", want: Fault{Kind: FaultError, Status: 503}},
		{spec: "error:status=502,count=3", want: Fault{Kind: FaultError, Status: 502, Count: 3}},
		{spec: "error:529,retry_after=4", want: Fault{Kind: FaultError, Status: 529, RetryAfterSeconds: 4}},
		{spec: "rate_limit:5", want: Fault{Kind: FaultRateLimit, RetryAfterSeconds: 5}},
		{spec: "rate_limit:retry_after_seconds=5", want: Fault{Kind: FaultRateLimit, RetryAfterSeconds: 5}},
		{spec: "slow_first_token:2s", want: Fault{Kind: FaultSlowFirstToken, Delay: 2 * time.Second}},
		{spec: " slow_stream: delay=150ms , count=1 ", want: Fault{Kind: FaultSlowStream, Delay: 150 * time.Millisecond, Count: 1}},
		{spec: "reset_mid_stream:3", want: Fault{Kind: FaultResetMidStream, AfterChunks: 3}},
		{spec: "stream_error:after_chunks=2", want: Fault{Kind: FaultStreamError, AfterChunks: 2}},
		{spec: "stall:5", want: Fault{Kind: FaultStall, AfterChunks: 5}},
		{spec: "no_done:count=1", want: Fault{Kind: FaultNoDone, Count: 1}},
		{spec: "malformed:2", want: Fault{Kind: FaultMalformed, AfterChunks: 2}},
		{spec: "cut:after_chunks=4", want: Fault{Kind: FaultCut, AfterChunks: 4}},
		{spec: "slow_first_content:20s", want: Fault{Kind: FaultSlowFirstContent, Delay: 20 * time.Second}},
		{spec: "context_length", want: Fault{Kind: FaultContextLength}},
		{spec: "context_length:8000", want: Fault{Kind: FaultContextLength, ContextWindow: 8000}},
		{spec: "content_policy:content_filter", want: Fault{Kind: FaultContentPolicy, Code: CodeContentFilter}},
		{spec: "content_policy", want: Fault{Kind: FaultContentPolicy}},
		{spec: "refuse_prefill:count=1", want: Fault{Kind: FaultRefusePrefill, Count: 1}},
		{spec: "rate_limit:2,count=1", want: Fault{Kind: FaultRateLimit, RetryAfterSeconds: 2, Count: 1}},
		{spec: "model=gpt-4o:stall:5", want: Fault{Kind: FaultStall, AfterChunks: 5, Model: "gpt-4o"}},
		{spec: "model=gpt-4o:none", want: Fault{Kind: FaultNone, Model: "gpt-4o"}},
		{spec: "model=llama3:8b:cut:2", want: Fault{Kind: FaultCut, AfterChunks: 2, Model: "llama3:8b"}},
		{spec: "stall:5,model=gpt-4o", want: Fault{Kind: FaultStall, AfterChunks: 5, Model: "gpt-4o"}},
		{spec: "error:500,count=1,model=llama3:8b", want: Fault{Kind: FaultError, Status: 500, Count: 1, Model: "llama3:8b"}},
		{spec: "model=gpt-4o:stall", want: Fault{Kind: FaultStall, Model: "gpt-4o"}},
		{spec: "model=gpt-4o", wantErr: "want model=NAME:kind"},
		{spec: "model=:stall", wantErr: "empty model name"},
		{spec: "model=a:stall:model=b", wantErr: "model given twice"},
		{spec: "stall:model=", wantErr: "empty model name"},
		{spec: "model=gpt-4o:down", wantErr: "cannot be scoped"},
		{spec: "content_policy:nope", wantErr: "code:"},
		{spec: "stall:delay=1s", wantErr: "not used by"},
		{spec: "context_length:-1", wantErr: "must not be negative"},
		{spec: "", wantErr: "empty fault kind"},
		{spec: "explode", wantErr: "unknown fault kind"},
		{spec: "hang:5", wantErr: "no bare parameter"},
		{spec: "error:status=abc", wantErr: "not an integer"},
		{spec: "error:503,5", wantErr: "want key=value"},
		{spec: "error:colour=red", wantErr: "unknown parameter"},
		{spec: "error:200", wantErr: "not an error status"},
		{spec: "rate_limit:delay=1s", wantErr: "not used by"},
		{spec: "down:count=2", wantErr: "count: not supported"},
		{spec: "slow_stream:delay=-1s", wantErr: "must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParseFault(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			again, err := ParseFault(got.String())
			if err != nil || again != got {
				t.Errorf("String round trip %q: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestFaultJSON(t *testing.T) {
	cases := []struct {
		name string
		f    Fault
		json string
	}{
		{"none", Fault{Kind: FaultNone}, `{"kind":"none"}`},
		{"zero is none", Fault{}, `{"kind":"none"}`},
		{"delay", Fault{Kind: FaultSlowStream, Delay: 2 * time.Second, Count: 1}, `{"kind":"slow_stream","delay":"2s","count":1}`},
		{"all fields", Fault{Kind: FaultError, Status: 503, RetryAfterSeconds: 2}, `{"kind":"error","status":503,"retry_after_seconds":2}`},
		{"after chunks", Fault{Kind: FaultResetMidStream, AfterChunks: 4}, `{"kind":"reset_mid_stream","after_chunks":4}`},
		{"model", Fault{Kind: FaultStall, AfterChunks: 5, Model: "gpt-4o"}, `{"kind":"stall","model":"gpt-4o","after_chunks":5}`},
		{"window and code", Fault{Kind: FaultContextLength, ContextWindow: 9}, `{"kind":"context_length","context_window":9}`},
		{"code", Fault{Kind: FaultContentPolicy, Code: "content_filter", Count: 1}, `{"kind":"content_policy","code":"content_filter","count":1}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.f)
			if err != nil || string(b) != tc.json {
				t.Fatalf("marshal %s, %v; want %s", b, err, tc.json)
			}
			var back Fault
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			want := normFault(tc.f)
			if back != want {
				t.Errorf("round trip %+v, want %+v", back, want)
			}
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		var f Fault
		if err := json.Unmarshal([]byte(`{"kind":"hang","delay_ms":5}`), &f); err == nil {
			t.Error("unknown field accepted")
		}
	})
}

func TestValidateCollectsAll(t *testing.T) {
	err := Fault{Kind: FaultHang, Status: 500, Delay: time.Second, AfterChunks: 2}.Validate()
	if err == nil {
		t.Fatal("invalid fault accepted")
	}
	for _, field := range []string{"status", "delay", "after_chunks"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
}

func TestValidateFaults(t *testing.T) {
	err := ValidateFaults([]Fault{
		{Kind: FaultError},
		{Kind: FaultStall, Model: "a"},
		{Kind: FaultHang},
		{Kind: "explode", Model: "b"},
		{Kind: FaultCut, Model: "a"},
	})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"[2].model: the simulator-wide fault already has a fault at [0]", `[3].kind: unknown fault kind "explode"`, `[4].model: model "a" already has a fault at [1]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if err := ValidateFaults([]Fault{{Kind: FaultError}, {Kind: FaultNone, Model: "a"}, {Kind: FaultCut, Model: "b"}}); err != nil {
		t.Errorf("valid set refused: %v", err)
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"openai": KindOpenAI, " Anthropic ": KindAnthropic, "gemini": KindGemini} {
		if got, err := ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseKind("cohere"); err == nil {
		t.Error("unknown kind accepted")
	}
}
