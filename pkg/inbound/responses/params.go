package responses

import (
	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// noteStateful explains every field that needs stored response state.
const noteStateful = "stateful: only a target with the Responses API holds response state"

// nonEmpty is active for a non-empty string, object or array.
func nonEmpty(v gjson.Result) bool {
	switch v.Type {
	case gjson.Null:
		return false
	case gjson.String:
		return v.Str != ""
	case gjson.JSON:
		n := 0
		v.ForEach(func(_, _ gjson.Result) bool { n++; return false })
		return n > 0
	}
	return true
}

// isTrue is active for true.
func isTrue(v gjson.Result) bool { return v.Type == gjson.True }

// nonZero is active for a number other than 0.
func nonZero(v gjson.Result) bool { return v.Type != gjson.Null && v.Float() != 0 }

// hasBuiltinTool is active for a tools list naming a tool other than a
// function (web_search, file_search, mcp, ...): those run inside OpenAI's
// Responses API and no chat target can run them.
func hasBuiltinTool(v gjson.Result) bool {
	found := false
	v.ForEach(func(_, t gjson.Result) bool {
		found = t.Get("type").String() != "function"
		return !found
	})
	return found
}

// builtinChoice is active for a tool_choice object forcing anything but a
// function (a built-in tool, an allowed_tools list, mcp, custom).
func builtinChoice(v gjson.Result) bool {
	return v.IsObject() && v.Get("type").String() != "function"
}

// hasItemReference is active for an input list holding item_reference
// items: they name items stored with an earlier response.
func hasItemReference(v gjson.Result) bool {
	found := false
	if v.IsArray() {
		v.ForEach(func(_, it gjson.Result) bool {
			found = it.Get("type").String() == "item_reference"
			return !found
		})
	}
	return found
}

// shared are the fields named alike in both APIs: the bridge copies them
// into the chat request, so the wrapped adapter's own entry (a range it
// maps, a field it cannot send) applies to them unchanged.
var shared = []string{"temperature", "top_p", "parallel_tool_calls", "user", "safety_identifier"}

// paramTable is the bridge's table over the Responses API's top-level
// request fields for targets of inner's kind (docs/responses.md shows it).
func paramTable(inner provider.Adapter) *provider.ParamTable {
	t := &provider.ParamTable{Kind: inner.Kind(), Params: []provider.Param{
		{Name: "instructions", Support: provider.ParamTranslated, Note: "sent as the first system message"},
		{Name: "input", Support: provider.ParamRefused, Active: hasItemReference, Note: "item_reference items are " + noteStateful},
		{Name: "tools", Support: provider.ParamRefused, Active: hasBuiltinTool, Note: "built-in tools (web_search, file_search, computer_use, code_interpreter, mcp, image_generation) run only inside the Responses API; function tools are translated"},
		{Name: "tool_choice", Support: provider.ParamRefused, Active: builtinChoice, Note: "only auto, none, required and a function can be forced through chat"},
		{Name: "text", Support: provider.ParamTranslated, Note: "format json_schema/json_object sent as response_format"},
		{Name: "max_output_tokens", Support: provider.ParamTranslated, Note: "sent as max_tokens"},
		{Name: "stream", Support: provider.ParamTranslated},
		{Name: "stream_options", Support: provider.ParamTranslated, Note: "usage is always asked for: response.completed carries it"},
	}}
	var innerTable *provider.ParamTable
	if pa, ok := inner.(provider.ParamAdapter); ok {
		innerTable = pa.Params()
	}
	for _, name := range shared {
		p := provider.Param{Name: name, Support: provider.ParamSupported}
		if innerTable != nil {
			if ip, ok := innerTable.Lookup(name); ok {
				p = *ip
			}
		}
		t.Params = append(t.Params, p)
	}
	t.Params = append(t.Params,
		provider.Param{Name: "metadata", Support: provider.ParamIgnored, Note: "describes a stored response; echoed in the answer"},
		provider.Param{Name: "service_tier", Support: provider.ParamIgnored},
		provider.Param{Name: "prompt_cache_key", Support: provider.ParamIgnored},
		provider.Param{Name: "prompt_cache_retention", Support: provider.ParamIgnored},
		provider.Param{Name: "max_tool_calls", Support: provider.ParamIgnored, Note: "limits built-in tool calls, which a bridged request has none of"},
		provider.Param{Name: "truncation", Support: provider.ParamIgnored, Active: func(v gjson.Result) bool { return v.Str == "auto" }, Note: "no counterpart: a conversation that fits the context is answered the same"},
		provider.Param{Name: "reasoning", Support: provider.ParamDropped, Active: reasoningActive, Note: "no portable chat counterpart"},
		provider.Param{Name: "include", Support: provider.ParamDropped, Active: nonEmpty, Note: "asks for output chat does not return (encrypted reasoning, logprobs, tool results)"},
		provider.Param{Name: "top_logprobs", Support: provider.ParamDropped, Active: nonZero, Note: "no log probabilities through the bridge"},
		provider.Param{Name: "previous_response_id", Support: provider.ParamRefused, Active: nonEmpty, Note: noteStateful},
		provider.Param{Name: "store", Support: provider.ParamRefused, Active: isTrue, Note: noteStateful},
		provider.Param{Name: "background", Support: provider.ParamRefused, Active: isTrue, Note: noteStateful + " (a background response is fetched later)"},
		provider.Param{Name: "conversation", Support: provider.ParamRefused, Active: nonEmpty, Note: noteStateful + " (a conversation is stored items)"},
		provider.Param{Name: "prompt", Support: provider.ParamRefused, Active: nonEmpty, Note: "a stored prompt template lives at OpenAI"},
	)
	return t
}

// reasoningActive is active for a reasoning object that asks for
// something: an effort or a summary.
func reasoningActive(v gjson.Result) bool {
	if !v.IsObject() {
		return nonEmpty(v)
	}
	active := false
	v.ForEach(func(_, x gjson.Result) bool {
		active = x.Type != gjson.Null
		return !active
	})
	return active
}
