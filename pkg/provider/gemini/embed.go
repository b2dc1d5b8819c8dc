package gemini

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/sse"
)

// embedAdapter serves OpenAI's POST /v1/embeddings: the Gemini API's
// batchEmbedContents, or Vertex AI's predict for its text-embedding models.
//
//	input (string or array of strings) → one request / instance per string
//	dimensions                         → outputDimensionality
//	encoding_format float              → the values as they came
//	encoding_format base64             → little-endian float32s, base64, as OpenAI encodes them
//
// Token arrays as input cannot be expressed (Gemini takes text) and are
// refused. The Gemini API reports no token usage for embeddings (usage is
// 0); Vertex reports each instance's token_count.
type embedAdapter struct{ a *adapter }

var _ provider.Adapter = (*embedAdapter)(nil)

// Kind implements provider.Adapter.
func (e *embedAdapter) Kind() string { return e.a.kind }

// ErrorBody implements provider.Adapter, as for chat.
func (e *embedAdapter) ErrorBody(status int, body []byte) []byte { return e.a.ErrorBody(status, body) }

// ProbeRequest implements provider.Adapter, as for chat.
func (e *embedAdapter) ProbeRequest(ctx context.Context, ep *provider.Endpoint) (*http.Request, error) {
	return e.a.ProbeRequest(ctx, ep)
}

type embedReq struct {
	Input          json.RawMessage `json:"input"`
	Model          string          `json:"model"`
	Dimensions     *int64          `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

// embedInputs reads input: a string or an array of strings.
func embedInputs(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return nil, &provider.RequestError{Param: "input", Message: "input must be a string or a non-empty array of strings for Gemini models (token arrays cannot be sent)"}
	}
	return list, nil
}

type gEmbedRequest struct {
	Model                string   `json:"model"`
	Content              gContent `json:"content"`
	OutputDimensionality *int64   `json:"outputDimensionality,omitempty"`
}

type vInstance struct {
	Content string `json:"content"`
}

type vParameters struct {
	OutputDimensionality *int64 `json:"outputDimensionality,omitempty"`
}

// ChatRequest builds the embeddings request.
func (e *embedAdapter) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	var in embedReq
	if err := json.Unmarshal(r.Body, &in); err != nil {
		return nil, decodeError(err)
	}
	model := r.Model
	if model == "" {
		model = in.Model
	}
	if model == "" {
		return nil, &provider.RequestError{Param: "model", Message: "model is required"}
	}
	switch in.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, &provider.RequestError{Param: "encoding_format", Message: "encoding_format must be float or base64"}
	}
	if in.Dimensions != nil && *in.Dimensions < 1 {
		return nil, &provider.RequestError{Param: "dimensions", Message: "dimensions must be at least 1"}
	}
	inputs, err := embedInputs(in.Input)
	if err != nil {
		return nil, err
	}
	var body []byte
	var u string
	if e.a.vertex {
		v := struct {
			Instances  []vInstance  `json:"instances"`
			Parameters *vParameters `json:"parameters,omitempty"`
		}{}
		for _, s := range inputs {
			v.Instances = append(v.Instances, vInstance{Content: s})
		}
		if in.Dimensions != nil {
			v.Parameters = &vParameters{OutputDimensionality: in.Dimensions}
		}
		body, err = marshal(&v)
		u = e.a.modelURL(ep, model, "predict")
	} else {
		g := struct {
			Requests []gEmbedRequest `json:"requests"`
		}{}
		for _, s := range inputs {
			g.Requests = append(g.Requests, gEmbedRequest{Model: "models/" + model, Content: gContent{Parts: []gPart{textPart(s)}}, OutputDimensionality: in.Dimensions})
		}
		body, err = marshal(&g)
		u = e.a.modelURL(ep, model, "batchEmbedContents")
	}
	if err != nil {
		return nil, &provider.RequestError{Param: "input", Message: "input cannot be encoded"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build %s embeddings request: %w", e.a.kind, err)
	}
	if err := e.a.setHeaders(ctx, req.Header, ep, r.Header, r.APIKey); err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// ChatResponse translates the embeddings into OpenAI's list.
func (e *embedAdapter) ChatResponse(body []byte, r *provider.Request) (*provider.Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, errors.New("decode gemini embeddings: not JSON")
	}
	var vectors []gjson.Result
	var tokens int64
	if e.a.vertex {
		for _, p := range gjson.GetBytes(body, "predictions").Array() {
			vectors = append(vectors, p.Get("embeddings.values"))
			tokens += p.Get("embeddings.statistics.token_count").Int()
		}
	} else {
		for _, v := range gjson.GetBytes(body, "embeddings").Array() {
			vectors = append(vectors, v.Get("values"))
		}
	}
	if len(vectors) == 0 {
		return nil, errors.New("gemini embeddings answer has no embeddings")
	}
	b64 := gjson.GetBytes(r.Body, "encoding_format").String() == "base64"
	model := requestedModel(r)
	out := make([]byte, 0, len(body)+128)
	out = append(out, `{"object":"list","data":[`...)
	for i, v := range vectors {
		if !v.IsArray() {
			return nil, fmt.Errorf("gemini embedding %d has no values", i)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"object":"embedding","index":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `,"embedding":`...)
		if b64 {
			out = appendBase64(out, v)
		} else {
			out = append(out, v.Raw...)
		}
		out = append(out, '}')
	}
	out = append(out, `],"model":`...)
	mb, _ := marshal(model)
	out = append(out, mb...)
	out = append(out, `,"usage":{"prompt_tokens":`...)
	out = strconv.AppendInt(out, tokens, 10)
	out = append(out, `,"total_tokens":`...)
	out = strconv.AppendInt(out, tokens, 10)
	out = append(out, "}}"...)
	return &provider.Response{Body: out, Model: model, Usage: provider.Usage{InputTokens: tokens}}, nil
}

// appendBase64 writes values as OpenAI's base64 encoding: little-endian
// float32s.
func appendBase64(dst []byte, values gjson.Result) []byte {
	arr := values.Array()
	raw := make([]byte, 4*len(arr))
	for i, f := range arr {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(f.Float())))
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, raw)
	return append(dst, '"')
}

// NewStream is never called: embeddings do not stream. The stream it
// returns fails at once, so that a caller that did would see an error.
func (e *embedAdapter) NewStream(*provider.Request) provider.Stream { return failedStream{} }

type failedStream struct{}

var errNoStream = errors.New("gemini embeddings do not stream")

func (failedStream) Event(dst []byte, _ sse.Event) ([]byte, error) { return dst, errNoStream }
func (failedStream) Finish(dst []byte) ([]byte, error)             { return dst, errNoStream }
func (failedStream) Model() string                                 { return "" }
func (failedStream) Usage() provider.Usage                         { return provider.Usage{} }
func (failedStream) FinishReasons() []string                       { return nil }
func (failedStream) Content() bool                                 { return false }
func (failedStream) Done() bool                                    { return false }
