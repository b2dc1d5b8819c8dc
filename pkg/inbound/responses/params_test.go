package responses

import (
	"testing"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/anthropic"
	"github.com/keeptrusts/gateway/pkg/provider/openai"
)

// TestParamTable checks what the router reads for each field: which values
// make the target unfit (stateful, built-in tools), which are dropped.
func TestParamTable(t *testing.T) {
	tests := []struct {
		field, value string
		want         provider.ParamSupport
		active       bool
	}{
		{"previous_response_id", `"resp_1"`, provider.ParamRefused, true},
		{"previous_response_id", `""`, provider.ParamRefused, false},
		{"store", `true`, provider.ParamRefused, true},
		{"store", `false`, provider.ParamRefused, false},
		{"background", `true`, provider.ParamRefused, true},
		{"conversation", `"conv_1"`, provider.ParamRefused, true},
		{"prompt", `{"id":"pmpt_1"}`, provider.ParamRefused, true},
		{"input", `"hi"`, provider.ParamRefused, false},
		{"input", `[{"role":"user","content":"hi"}]`, provider.ParamRefused, false},
		{"input", `[{"role":"user","content":"hi"},{"type":"item_reference","id":"msg_1"}]`, provider.ParamRefused, true},
		{"tools", `[{"type":"function","name":"f"}]`, provider.ParamRefused, false},
		{"tools", `[{"type":"function","name":"f"},{"type":"web_search"}]`, provider.ParamRefused, true},
		{"tool_choice", `"required"`, provider.ParamRefused, false},
		{"tool_choice", `{"type":"function","name":"f"}`, provider.ParamRefused, false},
		{"tool_choice", `{"type":"file_search"}`, provider.ParamRefused, true},
		{"reasoning", `{"effort":"high"}`, provider.ParamDropped, true},
		{"reasoning", `{"effort":null}`, provider.ParamDropped, false},
		{"include", `["reasoning.encrypted_content"]`, provider.ParamDropped, true},
		{"include", `[]`, provider.ParamDropped, false},
		{"truncation", `"auto"`, provider.ParamIgnored, true},
		{"truncation", `"disabled"`, provider.ParamIgnored, false},
	}
	table := newTestBridge(nil).Params()
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.value, func(t *testing.T) {
			p, ok := table.Lookup(tt.field)
			if !ok {
				t.Fatalf("%s not in the table", tt.field)
			}
			if p.Support != tt.want {
				t.Errorf("support %v, want %v", p.Support, tt.want)
			}
			active := p.Active == nil || p.Active(gjson.Parse(tt.value))
			if active != tt.active {
				t.Errorf("active %v, want %v", active, tt.active)
			}
		})
	}
}

// TestParamTableFollowsInner: fields named alike in both APIs take the
// wrapped adapter's entry (Anthropic maps temperature above 1).
func TestParamTableFollowsInner(t *testing.T) {
	an := Bridge(anthropic.New()).(provider.ParamAdapter).Params()
	if an.Kind != "anthropic" {
		t.Errorf("kind %q", an.Kind)
	}
	p, ok := an.Lookup("temperature")
	if !ok || p.Map == nil {
		t.Fatalf("temperature %+v: want Anthropic's mapping", p)
	}
	if raw, mapped := p.Map(gjson.Parse("1.8")); !mapped || raw != "0.9" {
		t.Errorf("1.8 maps to %q %v", raw, mapped)
	}
	oc := Bridge(openai.New("openai_compatible")).(provider.ParamAdapter).Params()
	if p, ok := oc.Lookup("temperature"); !ok || p.Map != nil || p.Support != provider.ParamSupported {
		t.Errorf("openai_compatible temperature %+v", p)
	}
	if Bridge(nil) != nil {
		t.Error("Bridge(nil) is not nil")
	}
}
