package gemini

import (
	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// isTrue is active for true.
func isTrue(v gjson.Result) bool { return v.Type == gjson.True }

// nonZero is active for a number other than 0.
func nonZero(v gjson.Result) bool { return v.Type != gjson.Null && v.Float() != 0 }

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

// falseValue is active for false: Gemini may always call tools in parallel.
func falseValue(v gjson.Result) bool { return v.Type == gjson.False }

// paramTable is what the translator does with each OpenAI field (see the
// comment at the top of translate.go and docs/providers/gemini.md). The
// vertex kind shares its entries (vertexParamTable).
var paramTable = &provider.ParamTable{
	Kind: "gemini",
	Params: []provider.Param{
		{Name: "messages", Support: provider.ParamTranslated, Note: "system/developer messages become systemInstruction; assistant messages role model; tool messages functionResponse parts"},
		{Name: "max_tokens", Support: provider.ParamTranslated, Note: "sent as generationConfig.maxOutputTokens; max_completion_tokens wins"},
		{Name: "max_completion_tokens", Support: provider.ParamTranslated, Note: "sent as generationConfig.maxOutputTokens"},
		{Name: "temperature", Support: provider.ParamTranslated, Note: "generationConfig.temperature (0–2, as OpenAI)"},
		{Name: "top_p", Support: provider.ParamTranslated, Note: "generationConfig.topP"},
		{Name: "n", Support: provider.ParamTranslated, Note: "generationConfig.candidateCount (at most 8)"},
		{Name: "stop", Support: provider.ParamTranslated, Note: "generationConfig.stopSequences (at most 5)"},
		{Name: "seed", Support: provider.ParamTranslated, Note: "generationConfig.seed"},
		{Name: "presence_penalty", Support: provider.ParamTranslated, Note: "generationConfig.presencePenalty (not every model accepts it)"},
		{Name: "frequency_penalty", Support: provider.ParamTranslated, Note: "generationConfig.frequencyPenalty (not every model accepts it)"},
		{Name: "tools", Support: provider.ParamTranslated, Note: "functionDeclarations; parameters cut down to Gemini's schema subset"},
		{Name: "tool_choice", Support: provider.ParamTranslated, Note: "toolConfig.functionCallingConfig: auto AUTO, none NONE, required ANY, a named function ANY with allowedFunctionNames"},
		{Name: "response_format", Support: provider.ParamTranslated, Note: "json_object: responseMimeType application/json; json_schema: also responseSchema"},
		{Name: "stream_options", Support: provider.ParamTranslated, Note: "include_usage adds the usage chunk"},
		{Name: "parallel_tool_calls", Support: provider.ParamDropped, Active: falseValue, Note: "Gemini cannot be told to call one function at a time"},
		{Name: "user", Support: provider.ParamIgnored},
		{Name: "safety_identifier", Support: provider.ParamIgnored},
		{Name: "service_tier", Support: provider.ParamIgnored},
		{Name: "store", Support: provider.ParamIgnored},
		{Name: "metadata", Support: provider.ParamIgnored},
		{Name: "prediction", Support: provider.ParamIgnored},
		{Name: "prompt_cache_key", Support: provider.ParamIgnored},
		{Name: "logprobs", Support: provider.ParamDropped, Active: isTrue, Note: "log probabilities are not translated"},
		{Name: "top_logprobs", Support: provider.ParamDropped, Active: nonZero, Note: "log probabilities are not translated"},
		{Name: "logit_bias", Support: provider.ParamDropped, Active: nonEmpty, Note: "no counterpart"},
		{Name: "reasoning_effort", Support: provider.ParamDropped, Active: nonEmpty, Note: "thinking budgets are not translated"},
		{Name: "verbosity", Support: provider.ParamDropped, Active: nonEmpty, Note: "no counterpart"},
		{Name: "modalities", Support: provider.ParamRefused, Active: notTextOnly, Note: "only text answers are translated"},
		{Name: "audio", Support: provider.ParamRefused, Note: "audio output is not translated"},
		{Name: "web_search_options", Support: provider.ParamRefused, Note: "Google Search grounding is not offered through this translation"},
		{Name: "functions", Support: provider.ParamRefused, Note: "deprecated; use tools"},
		{Name: "function_call", Support: provider.ParamRefused, Note: "deprecated; use tool_choice"},
	},
}

// vertexParamTable is the same translation under the vertex kind's name:
// the router names the table's kind in the errors it returns, and a client
// of a vertex target should read "vertex".
var vertexParamTable = &provider.ParamTable{Kind: "vertex", Params: paramTable.Params}

// Params returns the parameter table of the adapter's kind
// (provider.ParamAdapter).
func (a *adapter) Params() *provider.ParamTable {
	if a.vertex {
		return vertexParamTable
	}
	return paramTable
}
