package messages

import (
	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// thinkingOn is active for a thinking config other than {"type":"disabled"}.
func thinkingOn(v gjson.Result) bool {
	return !(v.IsObject() && v.Get("type").String() == "disabled")
}

// nonEmpty is active for a non-empty array or object.
func nonEmpty(v gjson.Result) bool {
	n := 0
	v.ForEach(func(_, _ gjson.Result) bool { n++; return false })
	return n > 0 || v.Type == gjson.String && v.Str != ""
}

// paramTable lists the Messages request fields a Chat Completions target
// cannot take, for the router's drop/refuse/skip rules; fields it does not
// list are translated (see request.go) or have no effect on the answer.
func paramTable(kind string) *provider.ParamTable {
	return &provider.ParamTable{
		Kind: kind,
		Params: []provider.Param{
			{Name: "messages", Support: provider.ParamTranslated, Note: "text, images, tool_use and tool_result are translated; thinking blocks are left out"},
			{Name: "system", Support: provider.ParamTranslated, Note: "sent as a system message"},
			{Name: "max_tokens", Support: provider.ParamTranslated, Note: "max_completion_tokens for openai and azure_openai targets"},
			{Name: "stop_sequences", Support: provider.ParamTranslated, Note: "sent as stop"},
			{Name: "tools", Support: provider.ParamTranslated, Note: "custom tools become function tools; server tools are refused"},
			{Name: "tool_choice", Support: provider.ParamTranslated},
			{Name: "metadata", Support: provider.ParamTranslated, Note: "user_id is sent as user"},
			{Name: "top_k", Support: provider.ParamDropped, Note: "Chat Completions has no top_k"},
			{Name: "thinking", Support: provider.ParamDropped, Active: thinkingOn, Note: "extended thinking has no Chat Completions counterpart"},
			{Name: "service_tier", Support: provider.ParamIgnored},
			{Name: "mcp_servers", Support: provider.ParamRefused, Active: nonEmpty, Note: "MCP servers are run by Anthropic's API only"},
		},
	}
}
