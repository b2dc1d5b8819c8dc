package anthropic

import (
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// nonZero is active for a number other than 0.
func nonZero(v gjson.Result) bool { return v.Type != gjson.Null && v.Float() != 0 }

// isTrue is active for true.
func isTrue(v gjson.Result) bool { return v.Type == gjson.True }

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

// notTextOnly is active for a modalities list asking for more than text.
func notTextOnly(v gjson.Result) bool {
	other := false
	v.ForEach(func(_, m gjson.Result) bool {
		if m.Type != gjson.Null && m.Str != "text" {
			other = true
		}
		return !other
	})
	return other
}

// moreThanOne is active for n > 1.
func moreThanOne(v gjson.Result) bool { return v.Type == gjson.Number && v.Int() > 1 }

// scaleTemperature maps OpenAI's 0–2 onto Anthropic's 0–1 linearly, for
// values above 1 only: values Anthropic accepts keep their meaning.
func scaleTemperature(v gjson.Result) (string, bool) {
	if v.Type != gjson.Number || v.Num <= 1 || v.Num > 2 {
		return "", false
	}
	return strconv.FormatFloat(v.Num/2, 'f', -1, 64), true
}

// paramTable is what the translator does with each OpenAI field (see the
// comment at the top of openai_anthropic.go and the README's table).
var paramTable = &provider.ParamTable{
	Kind: "anthropic",
	Params: []provider.Param{
		{Name: "messages", Support: provider.ParamTranslated, Note: "system/developer messages become the system prompt; tool messages become tool_result blocks"},
		{Name: "max_tokens", Support: provider.ParamTranslated, Note: "max_completion_tokens wins; default_max_tokens when neither is set"},
		{Name: "max_completion_tokens", Support: provider.ParamTranslated, Note: "sent as max_tokens"},
		{Name: "temperature", Support: provider.ParamSupported, Map: scaleTemperature, Note: "Anthropic takes 0–1: on failover a value above 1 is scaled linearly from 0–2 (1.8 → 0.9)"},
		{Name: "top_p", Support: provider.ParamSupported},
		{Name: "stop", Support: provider.ParamTranslated, Note: "sent as stop_sequences"},
		{Name: "tools", Support: provider.ParamTranslated},
		{Name: "tool_choice", Support: provider.ParamTranslated},
		{Name: "parallel_tool_calls", Support: provider.ParamTranslated, Note: "false sets disable_parallel_tool_use"},
		{Name: "response_format", Support: provider.ParamTranslated, Note: "json_object/json_schema become a system instruction asking for JSON (conforming to the schema)"},
		{Name: "user", Support: provider.ParamTranslated, Note: "sent as metadata.user_id"},
		{Name: "safety_identifier", Support: provider.ParamTranslated, Note: "sent as metadata.user_id"},
		{Name: "stream_options", Support: provider.ParamTranslated, Note: "include_usage adds the usage chunk"},
		{Name: "seed", Support: provider.ParamIgnored, Note: "best effort even at OpenAI"},
		{Name: "service_tier", Support: provider.ParamIgnored},
		{Name: "store", Support: provider.ParamIgnored},
		{Name: "metadata", Support: provider.ParamIgnored},
		{Name: "prediction", Support: provider.ParamIgnored},
		{Name: "prompt_cache_key", Support: provider.ParamIgnored},
		{Name: "n", Support: provider.ParamFanOut, Active: moreThanOne, Note: "Anthropic returns one choice per call"},
		{Name: "frequency_penalty", Support: provider.ParamDropped, Active: nonZero, Note: "no counterpart"},
		{Name: "presence_penalty", Support: provider.ParamDropped, Active: nonZero, Note: "no counterpart"},
		{Name: "logprobs", Support: provider.ParamDropped, Active: isTrue, Note: "Anthropic returns no log probabilities"},
		{Name: "top_logprobs", Support: provider.ParamDropped, Active: nonZero, Note: "Anthropic returns no log probabilities"},
		{Name: "logit_bias", Support: provider.ParamDropped, Active: nonEmpty, Note: "no counterpart"},
		{Name: "reasoning_effort", Support: provider.ParamDropped, Active: nonEmpty, Note: "no portable counterpart"},
		{Name: "verbosity", Support: provider.ParamDropped, Active: nonEmpty, Note: "no counterpart"},
		{Name: "modalities", Support: provider.ParamRefused, Active: notTextOnly, Note: "Anthropic produces text only"},
		{Name: "audio", Support: provider.ParamRefused, Note: "Anthropic produces no audio"},
		{Name: "web_search_options", Support: provider.ParamRefused, Note: "web search is not offered through this API"},
		{Name: "functions", Support: provider.ParamRefused, Note: "deprecated; use tools"},
		{Name: "function_call", Support: provider.ParamRefused, Note: "deprecated; use tool_choice"},
	},
}

// Params returns the Anthropic parameter table (provider.ParamAdapter).
func (a *adapter) Params() *provider.ParamTable { return paramTable }
