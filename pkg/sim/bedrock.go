package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// This file is Amazon Bedrock's Converse API: POST /model/{modelId}/converse
// and /converse-stream (a binary application/vnd.amazon.eventstream, each
// frame encoded with the AWS SDK's encoder), GET /foundation-models as the
// probe, requests signed with AWS Signature Version 4 (verified when
// Options.ExpectKey is "ACCESS_KEY_ID:SECRET_ACCESS_KEY"), errors as
// {"message": ...} with the exception's name in x-amzn-ErrorType.

// bedrockRequest is the Converse body; unknown fields are refused as
// Bedrock does.
type bedrockRequest struct {
	Messages        json.RawMessage `json:"messages"`
	System          json.RawMessage `json:"system"`
	InferenceConfig *struct {
		MaxTokens     *int     `json:"maxTokens"`
		Temperature   *float64 `json:"temperature"`
		TopP          *float64 `json:"topP"`
		StopSequences []string `json:"stopSequences"`
	} `json:"inferenceConfig"`
	ToolConfig *struct {
		Tools []struct {
			ToolSpec *struct {
				Name        string `json:"name"`
				Description string `json:"description"`
				InputSchema struct {
					JSON json.RawMessage `json:"json"`
				} `json:"inputSchema"`
			} `json:"toolSpec"`
		} `json:"tools"`
		ToolChoice map[string]json.RawMessage `json:"toolChoice"`
	} `json:"toolConfig"`
	AdditionalModelRequestFields json.RawMessage `json:"additionalModelRequestFields"`
	GuardrailConfig              json.RawMessage `json:"guardrailConfig"`
	RequestMetadata              json.RawMessage `json:"requestMetadata"`
	PerformanceConfig            json.RawMessage `json:"performanceConfig"`
}

type bedrockMessage struct {
	Role    string `json:"role"`
	Content []struct {
		Text  *string `json:"text"`
		Image *struct {
			Format string `json:"format"`
			Source struct {
				Bytes []byte `json:"bytes"`
			} `json:"source"`
		} `json:"image"`
		ToolUse *struct {
			ToolUseID string          `json:"toolUseId"`
			Name      string          `json:"name"`
			Input     json.RawMessage `json:"input"`
		} `json:"toolUse"`
		ToolResult *struct {
			ToolUseID string `json:"toolUseId"`
			Content   []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"toolResult"`
	} `json:"content"`
}

func validation(format string, args ...any) *apiError {
	return &apiError{typ: "ValidationException", message: fmt.Sprintf(format, args...)}
}

// bedrockPath reads /model/{modelId}/converse[-stream]; the model id is
// the path segment unescaped (an ARN's ':' and '/' arrive escaped).
func bedrockPath(u *url.URL) (model string, stream, ok bool) {
	p := u.EscapedPath()
	rest, found := strings.CutPrefix(p, "/model/")
	if !found {
		return "", false, false
	}
	switch {
	case strings.HasSuffix(rest, "/converse-stream"):
		rest, stream = strings.TrimSuffix(rest, "/converse-stream"), true
	case strings.HasSuffix(rest, "/converse"):
		rest = strings.TrimSuffix(rest, "/converse")
	default:
		return "", false, false
	}
	m, err := url.PathUnescape(rest)
	if err != nil || m == "" || strings.Contains(rest, "/") {
		return "", false, false
	}
	return m, stream, true
}

// parseBedrock validates a Converse body as Bedrock does in the common
// cases (unknown fields, roles alternating, tool results answering the
// previous turn's tool uses, ranges) and extracts the conversation.
func parseBedrock(body []byte) (*conversation, *apiError) {
	c := &conversation{}
	var req bedrockRequest
	if unknown, err := decodeStrict(body, &req); err != nil {
		if unknown != "" {
			return c, validation("Malformed input request: extraneous key [%s] is not permitted, please reformat your input and try again.", unknown)
		}
		return c, validation("Malformed input request, please reformat your input and try again.")
	}
	if ic := req.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil {
			if *ic.MaxTokens < 1 {
				return c, validation("1 validation error detected: Value '%d' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1", *ic.MaxTokens)
			}
			c.maxTokens = *ic.MaxTokens
		}
		if t := ic.Temperature; t != nil && (*t < 0 || *t > 1) {
			return c, validation("1 validation error detected: Value '%g' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1", *t)
		}
		c.stops = ic.StopSequences
	}
	if !isNull(req.System) {
		var sys []struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(req.System, &sys); err != nil {
			return c, validation("Malformed input request: system must be a list of blocks.")
		}
		for _, b := range sys {
			if b.Text != nil {
				c.promptChars += len(*b.Text)
			}
		}
	}
	var msgs []bedrockMessage
	if err := json.Unmarshal(req.Messages, &msgs); err != nil || len(msgs) == 0 {
		return c, validation("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
	}
	var prevUses []string
	prevRole := ""
	for i, m := range msgs {
		switch {
		case m.Role != "user" && m.Role != "assistant":
			return c, validation("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]", m.Role, i+1)
		case i == 0 && m.Role != "user":
			return c, validation("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
		case m.Role == prevRole:
			return c, validation("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.")
		case len(m.Content) == 0:
			return c, validation("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
		c.messages++
		var texts, uses, results []string
		for _, b := range m.Content {
			switch {
			case b.Text != nil:
				texts = append(texts, *b.Text)
				c.promptChars += len(*b.Text)
			case b.Image != nil:
				if len(b.Image.Source.Bytes) == 0 {
					return c, validation("The image at messages.%d has no bytes.", i)
				}
				c.promptChars += 1000
			case b.ToolUse != nil:
				if m.Role != "assistant" {
					return c, validation("toolUse blocks are only allowed in assistant messages.")
				}
				uses = append(uses, b.ToolUse.ToolUseID)
				c.promptChars += len(b.ToolUse.Name) + len(b.ToolUse.Input)
			case b.ToolResult != nil:
				if !contains(prevUses, b.ToolResult.ToolUseID) {
					return c, validation("The toolResult blocks at messages.%d.content contain toolUseId %s that does not match any toolUse block in the previous turn.", i, b.ToolResult.ToolUseID)
				}
				for _, r := range b.ToolResult.Content {
					results = append(results, r.Text)
					c.promptChars += len(r.Text)
				}
			default:
				return c, validation("Malformed input request: a content block at messages.%d has no known member.", i)
			}
		}
		if m.Role == "user" {
			if len(texts) > 0 {
				c.lastUser = strings.Join(texts, " ")
			}
			c.afterTool = len(results) > 0
			c.toolResult = strings.Join(results, " ")
			c.prefilled, c.prefill = false, ""
		} else {
			c.afterTool = false
			c.prefilled, c.prefill = i == len(msgs)-1 && len(uses) == 0, strings.Join(texts, "")
		}
		prevRole, prevUses = m.Role, uses
	}
	if tc := req.ToolConfig; tc != nil {
		if len(tc.Tools) == 0 {
			return c, validation("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
		}
		for _, t := range tc.Tools {
			if t.ToolSpec == nil || t.ToolSpec.Name == "" {
				return c, validation("A tool has no toolSpec name.")
			}
			c.tools = append(c.tools, toolDef{name: t.ToolSpec.Name, schema: t.ToolSpec.InputSchema.JSON})
		}
		switch {
		case tc.ToolChoice["any"] != nil:
			c.choice = choiceAny
		case tc.ToolChoice["tool"] != nil:
			var n struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(tc.ToolChoice["tool"], &n)
			c.choice, c.choiceName = choiceNamed, n.Name
		}
	}
	return c, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (p plan) bedrockStop() string {
	switch p.finish {
	case finishLength:
		return "max_tokens"
	case finishStopSequence:
		return "stop_sequence"
	case finishTool:
		return "tool_use"
	}
	return "end_turn"
}

func (p plan) bedrockUsage() map[string]int {
	return map[string]int{"inputTokens": p.inputTokens, "outputTokens": p.outputTokens, "totalTokens": p.inputTokens + p.outputTokens}
}

// bedrockContent is the answer's content blocks.
func (p plan) bedrockContent() []map[string]any {
	out := []map[string]any{}
	if p.text != "" {
		out = append(out, map[string]any{"text": p.text})
	}
	if p.tool != nil {
		out = append(out, map[string]any{"toolUse": map[string]any{"toolUseId": p.tool.id, "name": p.tool.name, "input": json.RawMessage(p.tool.args)}})
	}
	return out
}

// bedrockAnswer is a Converse answer.
func bedrockAnswer(p plan) []byte {
	b, _ := json.Marshal(map[string]any{
		"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": p.bedrockContent()}},
		"stopReason": p.bedrockStop(),
		"usage":      p.bedrockUsage(),
		"metrics":    map[string]int{"latencyMs": 42},
	})
	return b
}

// bedrockFrame encodes one event stream message.
func bedrockFrame(msgType, name string, payload any) []byte {
	var hs eventstream.Headers
	hs.Set(":message-type", eventstream.StringValue(msgType))
	if msgType == "exception" {
		hs.Set(":exception-type", eventstream.StringValue(name))
	} else {
		hs.Set(":event-type", eventstream.StringValue(name))
	}
	hs.Set(":content-type", eventstream.StringValue("application/json"))
	var data []byte
	switch v := payload.(type) {
	case []byte:
		data = v
	default:
		data, _ = json.Marshal(v)
	}
	var buf bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&buf, eventstream.Message{Headers: hs, Payload: data}); err != nil {
		panic(err) // only over-long headers fail, and these are fixed
	}
	return buf.Bytes()
}

// bedrockFrames is a ConverseStream answer: messageStart, the content
// blocks, messageStop (the finishing frame), metadata (the sentinel the
// no_done fault leaves out).
func bedrockFrames(p plan) [][]byte {
	frames := [][]byte{bedrockFrame("event", "messageStart", map[string]string{"role": "assistant"})}
	idx := 0
	if p.text != "" {
		for _, w := range words(p.text) {
			frames = append(frames, bedrockFrame("event", "contentBlockDelta", map[string]any{"contentBlockIndex": idx, "delta": map[string]string{"text": w}}))
		}
		frames = append(frames, bedrockFrame("event", "contentBlockStop", map[string]int{"contentBlockIndex": idx}))
		idx++
	}
	if p.tool != nil {
		frames = append(frames,
			bedrockFrame("event", "contentBlockStart", map[string]any{"contentBlockIndex": idx, "start": map[string]any{"toolUse": map[string]string{"toolUseId": p.tool.id, "name": p.tool.name}}}),
			bedrockFrame("event", "contentBlockDelta", map[string]any{"contentBlockIndex": idx, "delta": map[string]any{"toolUse": map[string]string{"input": p.tool.args}}}),
			bedrockFrame("event", "contentBlockStop", map[string]int{"contentBlockIndex": idx}))
	}
	return append(frames,
		bedrockFrame("event", "messageStop", map[string]string{"stopReason": p.bedrockStop()}),
		bedrockFrame("event", "metadata", map[string]any{"usage": p.bedrockUsage(), "metrics": map[string]int{"latencyMs": 42}}))
}

// bedrockMalformed re-encodes frame fr with its JSON payload cut in half:
// the frame itself is valid, its event is not.
func bedrockMalformed(fr []byte) []byte {
	m, err := eventstream.NewDecoder().Decode(bytes.NewReader(fr), nil)
	if err != nil {
		return fr
	}
	m.Payload = m.Payload[:len(m.Payload)/2]
	var buf bytes.Buffer
	if eventstream.NewEncoder().Encode(&buf, m) != nil {
		return fr
	}
	return buf.Bytes()
}

// bedrockStreamError is the stream_error fault's exception frame.
func bedrockStreamError(status int) []byte {
	e := bedrockErrorFor(status)
	name := strings.ToLower(e.typ[:1]) + e.typ[1:]
	return bedrockFrame("exception", name, map[string]string{"message": e.message})
}

// bedrockErrorFor is Bedrock's exception for an HTTP status.
func bedrockErrorFor(status int) apiError {
	switch status {
	case 400:
		return apiError{typ: "ValidationException", message: "Malformed input request, please reformat your input and try again."}
	case 401, 403:
		return apiError{typ: "AccessDeniedException", message: "You don't have access to the model with the specified model ID."}
	case 404:
		return apiError{typ: "ResourceNotFoundException", message: "The provided model identifier is invalid."}
	case 408:
		return apiError{typ: "ModelTimeoutException", message: "Model has timed out in processing the request. Try your request again."}
	case 424:
		return apiError{typ: "ModelErrorException", message: "The model returned an error."}
	case 429:
		return apiError{typ: "ThrottlingException", message: "Too many requests, please wait before trying again."}
	case 503:
		return apiError{typ: "ServiceUnavailableException", message: "Bedrock is unable to process your request."}
	}
	if status >= 500 {
		return apiError{typ: "InternalServerException", message: "The server encountered an error processing your request."}
	}
	return apiError{typ: "ValidationException", message: http.StatusText(status)}
}

// bedrockAuthError is the 403 of a missing or bad signature.
func bedrockAuthError(wrong bool) apiError {
	if wrong {
		return apiError{typ: "InvalidSignatureException", message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	}
	return apiError{typ: "MissingAuthenticationTokenException", message: "Missing Authentication Token"}
}

// bedrockSigned verifies the request's SigV4 signature: the scope's
// access key must be the expected one, and re-signing the request with the
// expected secret, for the scope's date, region and service, must give the
// same signature. body is the request body (nil for a probe).
func bedrockSigned(r *http.Request, body []byte, expect string) (ok, present bool) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return false, false
	}
	keyID, secret, _ := strings.Cut(expect, ":")
	cred := between(auth, "Credential=", ",")
	scope := strings.Split(cred, "/") // id/date/region/service/aws4_request
	signed := between(auth, "SignedHeaders=", ",")
	if len(scope) != 5 || scope[0] != keyID || signed == "" {
		return false, true
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false, true
	}
	cp, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return false, true
	}
	cp.Host = r.Host
	cp.ContentLength = r.ContentLength
	for _, h := range strings.Split(signed, ";") {
		if h == "host" || h == "content-length" {
			continue
		}
		if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			cp.Header[http.CanonicalHeaderKey(h)] = v
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, cp, hex.EncodeToString(sum[:]), scope[3], scope[2], at); err != nil {
		return false, true
	}
	return cp.Header.Get("Authorization") == auth, true
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}

// bedrockModelList is ListFoundationModels' answer.
func (s *Sim) bedrockModelList() any {
	type summary struct {
		ModelID          string   `json:"modelId"`
		ModelArn         string   `json:"modelArn"`
		ModelName        string   `json:"modelName"`
		ProviderName     string   `json:"providerName"`
		InputModalities  []string `json:"inputModalities"`
		OutputModalities []string `json:"outputModalities"`
		ResponseStream   bool     `json:"responseStreamingSupported"`
	}
	out := struct {
		ModelSummaries []summary `json:"modelSummaries"`
	}{ModelSummaries: []summary{}}
	for _, id := range s.models {
		prov, _, _ := strings.Cut(id, ".")
		out.ModelSummaries = append(out.ModelSummaries, summary{
			ModelID: id, ModelArn: "arn:aws:bedrock:us-east-1::foundation-model/" + id, ModelName: displayName(id),
			ProviderName: prov, InputModalities: []string{"TEXT"}, OutputModalities: []string{"TEXT"}, ResponseStream: true,
		})
	}
	return out
}
