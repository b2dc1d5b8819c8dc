package provider

// API is a client-facing API of the gateway: the wire format a request
// comes in and its answer goes out in. Every target serves the chat API
// through its Adapter; the others are served by an adapter the target's
// kind provides natively (NativeAdapter) or by a bridge that translates
// them to and from chat (pkg/inbound), or not at all.
type API uint8

// The gateway's APIs.
const (
	// APIChat is OpenAI Chat Completions: POST /v1/chat/completions.
	APIChat API = iota
	// APIMessages is Anthropic's Messages API: POST /v1/messages.
	APIMessages
	// APICountTokens is Anthropic's POST /v1/messages/count_tokens.
	APICountTokens
	// APIResponses is OpenAI's Responses API: POST /v1/responses, and
	// GET / DELETE /v1/responses/{id} (Request.Method, Request.ResourceID).
	APIResponses
	// APIEmbeddings is OpenAI's POST /v1/embeddings.
	APIEmbeddings
	// APICompletions is OpenAI's legacy POST /v1/completions.
	APICompletions

	// NumAPIs is the number of APIs, for arrays indexed by API.
	NumAPIs
)

var apiNames = [NumAPIs]string{"chat", "messages", "count_tokens", "responses", "embeddings", "completions"}

var apiPaths = [NumAPIs]string{"/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens", "/v1/responses", "/v1/embeddings", "/v1/completions"}

// String is the API's name as events, metrics and docs show it (the
// event's endpoint field).
func (a API) String() string {
	if a < NumAPIs {
		return apiNames[a]
	}
	return "unknown"
}

// Path is the gateway path the API is served on.
func (a API) Path() string {
	if a < NumAPIs {
		return apiPaths[a]
	}
	return ""
}

// Operation is the OpenTelemetry GenAI gen_ai.operation.name of a request
// to the API: chat for the conversational APIs, embeddings,
// text_completion.
func (a API) Operation() string {
	switch a {
	case APIEmbeddings:
		return "embeddings"
	case APICompletions:
		return "text_completion"
	default:
		return "chat"
	}
}

// Anthropic reports whether the API's requests and errors are in
// Anthropic's wire format rather than OpenAI's.
func (a API) Anthropic() bool { return a == APIMessages || a == APICountTokens }

// NativeAdapter is implemented by adapters whose provider serves APIs
// other than chat in their own wire format: Native returns the adapter that
// passes such requests through (its ChatRequest builds the upstream
// request for that API, its ChatResponse, NewStream and ErrorBody keep
// the API's format), or nil when the kind does not serve api natively.
// Native(APIChat) is not called: the adapter itself serves chat.
type NativeAdapter interface {
	Native(api API) Adapter
}

// Bridge is implemented by the adapters that serve an API by translating
// it to chat for a target's own adapter (pkg/inbound). Their answers hold
// no state upstream: a Responses API answer from a bridge cannot be
// continued with previous_response_id.
type Bridge interface {
	// Wrapped is the chat adapter the bridge hands requests to.
	Wrapped() Adapter
}
