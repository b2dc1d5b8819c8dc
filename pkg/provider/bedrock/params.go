package bedrock

import (
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
)

func nonZero(v gjson.Result) bool { return v.Type != gjson.Null && v.Float() != 0 }

func isTrue(v gjson.Result) bool { return v.Type == gjson.True }

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

// notText is active for a response_format other than text.
func notText(v gjson.Result) bool {
	t := v.Get("type")
	return v.Type != gjson.Null && t.Str != "text"
}

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

func moreThanOne(v gjson.Result) bool { return v.Type == gjson.Number && v.Int() > 1 }

// scaleTemperature maps OpenAI's 0–2 onto 0–1, the range of the models
// Bedrock serves (Claude, Llama, Mistral, Titan, Nova), for values above 1
// only: values they accept keep their meaning.
func scaleTemperature(v gjson.Result) (string, bool) {
	if v.Type != gjson.Number || v.Num <= 1 || v.Num > 2 {
		return "", false
	}
	return strconv.FormatFloat(v.Num/2, 'f', -1, 64), true
}

// paramTable is what the translator does with each OpenAI field (see
// converse.go and docs/providers/bedrock.md).
var paramTable = &provider.ParamTable{
	Kind: "bedrock",
	Params: []provider.Param{
		{Name: "messages", Support: provider.ParamTranslated, Note: "system/developer messages become system blocks; tool messages become toolResult blocks; images only as base64 data URLs"},
		{Name: "max_tokens", Support: provider.ParamTranslated, Note: "sent as inferenceConfig.maxTokens; max_completion_tokens wins; default_max_tokens when neither is set"},
		{Name: "max_completion_tokens", Support: provider.ParamTranslated, Note: "sent as inferenceConfig.maxTokens"},
		{Name: "temperature", Support: provider.ParamTranslated, Map: scaleTemperature, Note: "inferenceConfig.temperature; the models take 0–1: on failover a value above 1 is scaled linearly from 0–2"},
		{Name: "top_p", Support: provider.ParamTranslated, Note: "inferenceConfig.topP"},
		{Name: "stop", Support: provider.ParamTranslated, Note: "inferenceConfig.stopSequences"},
		{Name: "tools", Support: provider.ParamTranslated, Note: "toolConfig.tools[].toolSpec"},
		{Name: "tool_choice", Support: provider.ParamTranslated, Note: "auto, any (required) or tool; none leaves the tools out"},
		{Name: "stream_options", Support: provider.ParamTranslated, Note: "include_usage adds the usage chunk from the metadata event"},
		{Name: "parallel_tool_calls", Support: provider.ParamIgnored, Note: "Converse has no switch for it"},
		{Name: "user", Support: provider.ParamIgnored},
		{Name: "safety_identifier", Support: provider.ParamIgnored},
		{Name: "seed", Support: provider.ParamIgnored, Note: "best effort even at OpenAI"},
		{Name: "service_tier", Support: provider.ParamIgnored},
		{Name: "store", Support: provider.ParamIgnored},
		{Name: "metadata", Support: provider.ParamIgnored},
		{Name: "prediction", Support: provider.ParamIgnored},
		{Name: "prompt_cache_key", Support: provider.ParamIgnored},
		{Name: "n", Support: provider.ParamFanOut, Active: moreThanOne, Note: "Converse returns one choice per call"},
		{Name: "response_format", Support: provider.ParamDropped, Active: notText, Note: "Converse has no JSON mode"},
		{Name: "frequency_penalty", Support: provider.ParamDropped, Active: nonZero, Note: "no counterpart in inferenceConfig"},
		{Name: "presence_penalty", Support: provider.ParamDropped, Active: nonZero, Note: "no counterpart in inferenceConfig"},
		{Name: "logprobs", Support: provider.ParamDropped, Active: isTrue, Note: "Converse returns no log probabilities"},
		{Name: "top_logprobs", Support: provider.ParamDropped, Active: nonZero, Note: "Converse returns no log probabilities"},
		{Name: "logit_bias", Support: provider.ParamDropped, Active: nonEmpty, Note: "no counterpart"},
		{Name: "reasoning_effort", Support: provider.ParamDropped, Active: nonEmpty, Note: "model-specific (additionalModelRequestFields)"},
		{Name: "verbosity", Support: provider.ParamDropped, Active: nonEmpty, Note: "no counterpart"},
		{Name: "modalities", Support: provider.ParamRefused, Active: notTextOnly, Note: "Converse answers text"},
		{Name: "audio", Support: provider.ParamRefused, Note: "Converse produces no audio"},
		{Name: "web_search_options", Support: provider.ParamRefused, Note: "no web search through Converse"},
		{Name: "functions", Support: provider.ParamRefused, Note: "deprecated; use tools"},
		{Name: "function_call", Support: provider.ParamRefused, Note: "deprecated; use tool_choice"},
	},
}
