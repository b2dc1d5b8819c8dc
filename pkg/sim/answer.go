package sim

import (
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode/utf8"
)

// toolDef is one tool the client offered.
type toolDef struct {
	name string
	// schema is the JSON Schema of the arguments (OpenAI "parameters",
	// Anthropic "input_schema"); may be empty.
	schema json.RawMessage
}

// choiceMode is the client's tool_choice, in provider-neutral form.
type choiceMode int

const (
	choiceAuto  choiceMode = iota
	choiceNone             // OpenAI "none", Anthropic {type:none}
	choiceAny              // OpenAI "required", Anthropic {type:any}
	choiceNamed            // a named function / {type:tool,name}
)

// conversation is what the answer depends on, parsed from either wire format.
type conversation struct {
	model        string
	stream       bool
	includeUsage bool
	// lastUser is the text of the last user message.
	lastUser string
	// afterTool is set when the last message carries tool results, whose
	// text is toolResult: the answer is then text, so agent loops end.
	afterTool  bool
	toolResult string
	// promptChars and messages size the prompt for token counts.
	promptChars int
	messages    int
	tools       []toolDef
	choice      choiceMode
	choiceName  string
	// maxTokens is 0 when the client set no limit.
	maxTokens int
	stops     []string
	// prefilled is set when the last message is an assistant message (a
	// prefill); prefill is its text, which the answer continues.
	prefilled bool
	prefill   string

	// resp is what a Responses API request adds; nil for the other APIs.
	resp *responsesCall
	// embed is an embeddings request's inputs and options.
	embed *embeddingsCall
	// prompts are a legacy completion's prompts and n its choices per
	// prompt.
	prompts []string
	n       int
}

// finish is why an answer ended, in provider-neutral form.
type finish int

const (
	finishStop finish = iota
	finishLength
	finishStopSequence
	finishTool
)

// plan is the deterministic answer to a conversation.
type plan struct {
	// text is the answer text; with a tool call it is empty (OpenAI) or a
	// short preamble (Anthropic, tool_choice auto), as the real models do.
	text         string
	tool         *toolCall
	finish       finish
	stopSequence string
	inputTokens  int
	outputTokens int
}

// toolCall is a tool call the simulated model makes.
type toolCall struct {
	id   string
	name string
	// args is the JSON object of arguments.
	args string
}

// makePlan decides the answer: a tool call when tools are offered and either
// the choice forces one or the user asks about the weather; otherwise a
// deterministic sentence (continued after a prefill, see continuation) cut by
// stop sequences and max tokens.
func makePlan(k Kind, c *conversation) plan {
	p := plan{inputTokens: promptTokens(c)}
	if t := pickTool(c); t != nil {
		args := toolArgs(t.schema)
		p.tool = &toolCall{id: toolID(k, c, t.name), name: t.name, args: args}
		if k == KindAnthropic && c.choice == choiceAuto {
			p.text = "I'll use the " + t.name + " tool."
		}
		p.finish = finishTool
		p.outputTokens = tokensFor(utf8.RuneCountInString(p.text)+len(t.name)+len(args)) + 1
		return p
	}
	text := answerText(k, c)
	if c.prefilled {
		text = continuation(text, c.prefill)
	}
	p.finish = finishStop
	if i, seq := firstStop(text, c.stops); i >= 0 {
		text, p.finish, p.stopSequence = text[:i], finishStopSequence, seq
	}
	if c.maxTokens > 0 && tokens(text) > c.maxTokens {
		text, p.finish, p.stopSequence = clipRunes(text, 4*c.maxTokens), finishLength, ""
	}
	p.text = text
	p.outputTokens = tokens(text)
	return p
}

// promptTokens estimates the prompt's tokens: about four characters each
// plus a few per message, as usage reports them.
func promptTokens(c *conversation) int { return tokensFor(c.promptChars) + 3*c.messages + 3 }

// continuation is what the simulated model says after a prefill: the rest of
// the full answer when the prefill is a prefix of it (so that an answer cut
// after some text and continued elsewhere stitches back byte-exact), else the
// full answer, appended with no separator. Either way the whole answer the
// client should see is prefill + continuation(full, prefill).
func continuation(full, prefill string) string {
	if rest, ok := strings.CutPrefix(full, prefill); ok {
		return rest
	}
	return full
}

func pickTool(c *conversation) *toolDef {
	// A prefilled answer continues in text, as models do.
	if len(c.tools) == 0 || c.afterTool || c.choice == choiceNone || c.prefilled {
		return nil
	}
	switch c.choice {
	case choiceNamed:
		for i := range c.tools {
			if c.tools[i].name == c.choiceName {
				return &c.tools[i]
			}
		}
		return nil
	case choiceAny:
		return &c.tools[0]
	}
	if strings.Contains(strings.ToLower(c.lastUser), "weather") {
		return &c.tools[0]
	}
	return nil
}

// answerText is the deterministic answer sentence.
func answerText(k Kind, c *conversation) string {
	if c.afterTool {
		return "Simulated " + string(k) + " answer based on the tool result: " + clipRunes(collapse(c.toolResult), 60)
	}
	if strings.Contains(strings.ToLower(c.lastUser), "capital of france") {
		return "The capital of France is Paris."
	}
	q := clipRunes(collapse(c.lastUser), 60)
	if q == "" {
		return "Simulated " + string(k) + " answer."
	}
	return "Simulated " + string(k) + " answer to: " + q
}

// firstStop finds the earliest stop sequence in text; -1 if none occurs.
func firstStop(text string, stops []string) (int, string) {
	at, seq := -1, ""
	for _, s := range stops {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
			at, seq = i, s
		}
	}
	return at, seq
}

// tokens estimates the tokens of s the way the usual rule of thumb does
// (about four characters each), at least one.
func tokens(s string) int { return tokensFor(utf8.RuneCountInString(s)) }

func tokensFor(chars int) int { return max(1, (chars+3)/4) }

// collapse joins the words of s with single spaces.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// clipRunes cuts s to at most n runes.
func clipRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// words splits text into stream pieces: one word with its trailing space each.
func words(text string) []string {
	parts := strings.SplitAfter(text, " ")
	return slices.DeleteFunc(parts, func(s string) bool { return s == "" })
}

// splitN cuts s into about n pieces on rune boundaries, so that streamed
// tool arguments arrive in several deltas as they do from real providers.
func splitN(s string, n int) []string {
	size := max(1, (len(s)+n-1)/n)
	var out []string
	for len(s) > 0 {
		cut := min(size, len(s))
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return out
}

// toolArgs makes deterministic arguments that fit the tool's schema: the
// required properties (or all, if none is required) with a sample value of
// their type; {"location":"Paris"} when the schema has no properties.
func toolArgs(schema json.RawMessage) string {
	var sch struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	if len(schema) > 0 {
		_ = json.Unmarshal(schema, &sch)
	}
	if len(sch.Properties) == 0 {
		return `{"location":"Paris"}`
	}
	var names []string
	for _, n := range sch.Required {
		if _, ok := sch.Properties[n]; ok {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		for n := range sch.Properties {
			names = append(names, n)
		}
	}
	args := make(map[string]any, len(names))
	for _, n := range names {
		args[n] = sampleValue(n, sch.Properties[n])
	}
	b, err := json.Marshal(args)
	if err != nil {
		return `{"location":"Paris"}`
	}
	return string(b)
}

func sampleValue(name string, raw json.RawMessage) any {
	var p struct {
		Type any   `json:"type"`
		Enum []any `json:"enum"`
	}
	_ = json.Unmarshal(raw, &p)
	if len(p.Enum) > 0 {
		return p.Enum[0]
	}
	typ, _ := p.Type.(string)
	if list, ok := p.Type.([]any); ok && len(list) > 0 {
		typ, _ = list[0].(string)
	}
	// Gemini's schema types are upper-case.
	typ = strings.ToLower(typ)
	switch typ {
	case "integer", "number":
		return 1
	case "boolean":
		return true
	case "array":
		return []any{}
	case "object":
		return map[string]any{}
	}
	lower := strings.ToLower(name)
	if strings.Contains(lower, "location") || strings.Contains(lower, "city") || strings.Contains(lower, "place") {
		return "Paris"
	}
	return "sim"
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// toolID is deterministic, so that tests can predict it and replays match.
func toolID(k Kind, c *conversation, name string) string {
	h := fnv.New64a()
	for _, part := range []string{string(k), c.model, name, c.lastUser} {
		_, _ = h.Write([]byte(part))
		_, _ = h.Write([]byte{0})
	}
	seed := h.Sum64()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	if k == KindAnthropic {
		return "toolu_01" + idFrom(r.IntN, 22)
	}
	if k == KindBedrock {
		return "tooluse_" + idFrom(r.IntN, 22)
	}
	return "call_" + idFrom(r.IntN, 24)
}

// randomID is n random alphanumerics, for ids that are unique in real APIs.
func randomID(n int) string { return idFrom(rand.IntN, n) }

func idFrom(intN func(int) int, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[intN(len(idAlphabet))]
	}
	return string(b)
}

func (s *Sim) requestID() string {
	if s.kind == KindAnthropic {
		return "req_011C" + randomID(20)
	}
	return "req_" + randomID(32)
}

func (s *Sim) messageID() string    { return "msg_01" + randomID(22) }
func (s *Sim) completionID() string { return "chatcmpl-" + randomID(29) }
