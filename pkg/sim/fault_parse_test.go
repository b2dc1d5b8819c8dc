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

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"openai": KindOpenAI, " Anthropic ": KindAnthropic} {
		if got, err := ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseKind("gemini"); err == nil {
		t.Error("unknown kind accepted")
	}
}
