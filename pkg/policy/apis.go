package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/tidwall/gjson"
)

// EvaluateRequestAPI is EvaluateRequest for a request body of any of the
// gateway's APIs, in that API's wire format. It reads the input text a
// model is given:
//
//   - APIChat: what EvaluateRequest reads;
//   - APIMessages, APICountTokens (Anthropic): system (a string or blocks'
//     text) and messages[].content: a string, or blocks: every block's text
//     and a tool_result block's content (a string or nested blocks' text);
//   - APIResponses: instructions, and input: a string, or items: every
//     item's content (a string or parts' text, input_text and output_text)
//     and a function_call_output or custom_tool_call_output item's output
//     (a string or parts' text);
//   - APIEmbeddings: input; APICompletions: prompt: a string or an array of
//     strings (token ids are not text and are skipped).
//
// Tool definitions, tool-call arguments, images, files and documents are
// not read, as for chat. The rules are EvaluateRequest's: keys any case,
// every duplicate read, only the strings read are rewritten by redaction,
// and a field read in a shape the API does not allow, or a missing
// messages (Anthropic), input (embeddings) or prompt (completions), is an
// error wrapping ErrMalformedBody that names the field's path. Responses'
// input is optional (a request may take it from a stored prompt or a
// previous response). An API the gateway does not know is an error that
// does not wrap ErrMalformedBody: the caller's mistake, not the client's.
func (e *Engine) EvaluateRequestAPI(api provider.API, body []byte) (out []byte, results []Result, blocked bool, err error) {
	var walk func(*walker, gjson.Result) error
	switch api {
	case provider.APIChat:
		walk = (*walker).request
	case provider.APIMessages, provider.APICountTokens:
		walk = (*walker).anthropic
	case provider.APIResponses:
		walk = (*walker).responses
	case provider.APIEmbeddings:
		walk = (*walker).embeddings
	case provider.APICompletions:
		walk = (*walker).completions
	default:
		return nil, nil, false, fmt.Errorf("policy: no request reader for API %d", api)
	}
	return e.evaluateBody(body, walk)
}

// field is the path of a field in a body, formatted only when an error
// names it, so that walking a clean body builds no strings.
type field struct {
	names [4]string // "" for an index directly after an index
	idx   [4]int    // the index after names[k], -1 for none
	n     int
}

// at starts a path at a top-level key.
func at(name string) field {
	return field{names: [4]string{name}, idx: [4]int{-1}, n: 1}
}

// key is the path of f's member name.
func (f field) key(name string) field {
	if f.n < len(f.names) {
		f.names[f.n], f.idx[f.n] = name, -1
	}
	f.n++
	return f
}

// index is the path of f's element i.
func (f field) index(i int) field {
	if f.n <= len(f.names) && f.idx[f.n-1] >= 0 {
		f = f.key("")
	}
	if f.n <= len(f.names) {
		f.idx[f.n-1] = i
	}
	return f
}

func (f field) String() string {
	var b strings.Builder
	for k := range min(f.n, len(f.names)) {
		if k > 0 && f.names[k] != "" {
			b.WriteByte('.')
		}
		b.WriteString(f.names[k])
		if f.idx[k] >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(f.idx[k]))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// malformed is the error for the field f whose value the API does not
// allow; want says what it allows.
func (f field) malformed(want string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformedBody, f.String(), want)
}

// eachMember calls fn with each member of obj, duplicates included, until
// fn returns an error.
func eachMember(obj gjson.Result, fn func(key string, v gjson.Result) error) error {
	var err error
	obj.ForEach(func(k, v gjson.Result) bool {
		err = fn(k.Str, v)
		return err == nil
	})
	return err
}

// eachElem calls fn with each element of arr and its index until fn
// returns an error.
func eachElem(arr gjson.Result, fn func(i int, v gjson.Result) error) error {
	var err error
	i := 0
	arr.ForEach(func(_, v gjson.Result) bool {
		err = fn(i, v)
		i++
		return err == nil
	})
	return err
}

// hasType reports whether any of obj's type members (any case) is one of
// types: a decoder may take the first or the last duplicate, so either
// makes the object what it says.
func hasType(obj gjson.Result, types ...string) bool {
	found := false
	obj.ForEach(func(k, v gjson.Result) bool {
		if strings.EqualFold(k.Str, "type") && v.Type == gjson.String {
			for _, t := range types {
				if strings.EqualFold(v.Str, t) {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// anthropic visits an Anthropic Messages (or count_tokens) request: system
// and messages[].content.
func (w *walker) anthropic(root gjson.Result) error {
	found := false
	err := eachMember(root, func(k string, v gjson.Result) error {
		switch {
		case strings.EqualFold(k, "system"):
			return w.textOrBlocks(v, at("system"), false)
		case strings.EqualFold(k, "messages"):
			found = true
			if !v.IsArray() {
				return at("messages").malformed("want an array")
			}
			return eachElem(v, func(i int, msg gjson.Result) error {
				f := at("messages").index(i)
				if !msg.IsObject() {
					return f.malformed("want an object")
				}
				return eachMember(msg, func(k string, content gjson.Result) error {
					if !strings.EqualFold(k, "content") {
						return nil
					}
					return w.textOrBlocks(content, f.key("content"), true)
				})
			})
		}
		return nil
	})
	if err == nil && !found {
		err = at("messages").malformed("required")
	}
	return err
}

// textOrBlocks visits a string, or the text of each block of an array;
// null is no text. With toolResults, a tool_result block's content is read
// as well (a string or blocks).
func (w *walker) textOrBlocks(v gjson.Result, f field, toolResults bool) error {
	switch {
	case v.Type == gjson.String:
		return w.text(v)
	case v.Type == gjson.Null:
		return nil
	case v.IsArray():
		return eachElem(v, func(j int, block gjson.Result) error {
			return w.block(block, f.index(j), toolResults)
		})
	}
	return f.malformed("want a string or an array of blocks")
}

// block visits the text members of one content block or part and, when
// toolResults is set and it is a tool_result, its content.
func (w *walker) block(block gjson.Result, f field, toolResults bool) error {
	if !block.IsObject() {
		return f.malformed("want an object")
	}
	toolResult := toolResults && hasType(block, "tool_result")
	return eachMember(block, func(k string, v gjson.Result) error {
		switch {
		case strings.EqualFold(k, "text"):
			return w.optionalText(v, f.key("text"))
		case toolResult && strings.EqualFold(k, "content"):
			return w.textOrBlocks(v, f.key("content"), false)
		}
		return nil
	})
}

// optionalText visits a string; null is no text.
func (w *walker) optionalText(v gjson.Result, f field) error {
	switch v.Type {
	case gjson.String:
		return w.text(v)
	case gjson.Null:
		return nil
	}
	return f.malformed("want a string")
}

// responses visits an OpenAI Responses request: instructions and input.
func (w *walker) responses(root gjson.Result) error {
	return eachMember(root, func(k string, v gjson.Result) error {
		switch {
		case strings.EqualFold(k, "instructions"):
			return w.optionalText(v, at("instructions"))
		case strings.EqualFold(k, "input"):
			switch {
			case v.Type == gjson.String:
				return w.text(v)
			case v.Type == gjson.Null:
				return nil
			case v.IsArray():
				return eachElem(v, func(i int, item gjson.Result) error {
					return w.responseItem(item, at("input").index(i))
				})
			}
			return at("input").malformed("want a string or an array of items")
		}
		return nil
	})
}

// responseItem visits one input item: its content (a message's, or a
// reasoning item's) and a tool call output's output.
func (w *walker) responseItem(item gjson.Result, f field) error {
	if !item.IsObject() {
		return f.malformed("want an object")
	}
	output := hasType(item, "function_call_output", "custom_tool_call_output")
	return eachMember(item, func(k string, v gjson.Result) error {
		switch {
		case strings.EqualFold(k, "content"):
			return w.textOrParts(v, f.key("content"))
		case output && strings.EqualFold(k, "output"):
			return w.textOrParts(v, f.key("output"))
		}
		return nil
	})
}

// textOrParts visits a string, or the text of each part of an array; null
// is no text.
func (w *walker) textOrParts(v gjson.Result, f field) error {
	switch {
	case v.Type == gjson.String:
		return w.text(v)
	case v.Type == gjson.Null:
		return nil
	case v.IsArray():
		return eachElem(v, func(j int, part gjson.Result) error {
			return w.block(part, f.index(j), false)
		})
	}
	return f.malformed("want a string or an array of parts")
}

// embeddings visits an OpenAI embeddings request's input.
func (w *walker) embeddings(root gjson.Result) error {
	return w.inputs(root, "input", false)
}

// completions visits a legacy completions request's prompt; null is no
// text (the API defaults it).
func (w *walker) completions(root gjson.Result) error {
	return w.inputs(root, "prompt", true)
}

// inputs visits the required top-level member name: a string, or an array
// of strings and token-id arrays, or token ids.
func (w *walker) inputs(root gjson.Result, name string, nullable bool) error {
	found := false
	err := eachMember(root, func(k string, v gjson.Result) error {
		if !strings.EqualFold(k, name) {
			return nil
		}
		found = true
		f := at(name)
		switch {
		case v.Type == gjson.String:
			return w.text(v)
		case v.Type == gjson.Null && nullable:
			return nil
		case v.IsArray():
			return eachElem(v, func(i int, el gjson.Result) error {
				switch {
				case el.Type == gjson.String:
					return w.text(el)
				case el.Type == gjson.Number:
					return nil // a token id
				case el.IsArray():
					return eachElem(el, func(j int, id gjson.Result) error {
						if id.Type != gjson.Number {
							return f.index(i).index(j).malformed("want a token id")
						}
						return nil
					})
				}
				return f.index(i).malformed("want a string or an array of token ids")
			})
		}
		return f.malformed("want a string or an array of strings or token ids")
	})
	if err == nil && !found {
		err = at(name).malformed("required")
	}
	return err
}
