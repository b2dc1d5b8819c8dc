package provider

import "github.com/tidwall/gjson"

// ParamSupport says what an adapter does with one OpenAI Chat Completions
// request field.
type ParamSupport int

// What adapters do with request fields.
const (
	// ParamSupported fields are sent as they are.
	ParamSupported ParamSupport = iota
	// ParamTranslated fields are rewritten into the provider's own form.
	ParamTranslated
	// ParamIgnored fields are accepted and not sent: they do not change
	// what the answer says (seed is best effort even at OpenAI).
	ParamIgnored
	// ParamDropped fields cannot be expressed. On a failover attempt they
	// are left out (failover.drop_unsupported_params: true, the default);
	// on a route's first choice they are refused with a 400 naming them
	// (unless drop_unsupported_params: always).
	ParamDropped
	// ParamRefused fields can be neither expressed nor dropped without
	// changing what the client gets (audio output, web search): a target
	// that cannot take them is skipped with reason unsupported_request.
	ParamRefused
	// ParamFanOut is n: a target that returns one choice per call gets n
	// calls whose choices are merged (failover.fan_out_n).
	ParamFanOut
)

// String names the support level as the README's parameter table does.
func (s ParamSupport) String() string {
	switch s {
	case ParamSupported:
		return "supported"
	case ParamTranslated:
		return "translated"
	case ParamIgnored:
		return "ignored"
	case ParamDropped:
		return "dropped on failover"
	case ParamRefused:
		return "target skipped"
	case ParamFanOut:
		return "fanned out"
	}
	return "unknown"
}

// Param is one request field of a provider kind's table.
type Param struct {
	// Name is the top-level field of the OpenAI request body.
	Name string
	// Support is what the adapter does with it.
	Support ParamSupport
	// Active, when set, says whether a value asks for something the
	// provider cannot do (frequency_penalty 0 is harmless); nil means any
	// value but null does.
	Active func(v gjson.Result) bool
	// Map, when set, maps a value outside the provider's range onto it; ok
	// is false when the value is in range and is sent as is. Applied on
	// failover attempts (and always with drop_unsupported_params: always);
	// on a first choice the adapter refuses out-of-range values.
	Map func(v gjson.Result) (raw string, ok bool)
	// Note explains the mapping or why the field cannot be sent.
	Note string
}

// ParamTable is one provider kind's request fields. Fields it does not list
// are passed on (openai kinds) or ignored (translated kinds).
type ParamTable struct {
	// Kind is the provider kind.
	Kind string
	// Params are the fields, in the README's order.
	Params []Param
}

// Lookup returns the entry of field name, if listed.
func (t *ParamTable) Lookup(name string) (*Param, bool) {
	for i := range t.Params {
		if t.Params[i].Name == name {
			return &t.Params[i], true
		}
	}
	return nil, false
}

// ParamAdapter is implemented by adapters whose provider cannot take every
// OpenAI request field; the router reads the table to drop, map, fan out or
// skip before the adapter sees the request. Adapters that pass every field
// on do not implement it.
type ParamAdapter interface {
	// Params returns the kind's table; the same value on every call.
	Params() *ParamTable
}
