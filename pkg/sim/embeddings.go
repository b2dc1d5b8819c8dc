package sim

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// OpenAI's POST /v1/embeddings: deterministic unit vectors, so that a test
// can tell one model's vectors from another's and the same input always
// gets the same vector.

// embeddingsRequest is the Embeddings request body.
type embeddingsRequest struct {
	Model          *string         `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat *string         `json:"encoding_format"`
	User           json.RawMessage `json:"user"`
}

// embeddingsCall is what an embeddings answer is made from.
type embeddingsCall struct {
	// keys identify each input for its vector: the text, or a token
	// array's numbers.
	keys []string
	// tokens counts each input's tokens.
	tokens []int
	dims   int
	base64 bool
}

// maxEmbeddingInputs is OpenAI's limit on a batch.
const maxEmbeddingInputs = 2048

// embeddingDims is a model's default vector length: OpenAI's for its
// models, 1536 for any other name.
func embeddingDims(model string) int {
	if strings.Contains(model, "text-embedding-3-large") {
		return 3072
	}
	return 1536
}

const invalidInput = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."

// parseEmbeddings validates an Embeddings body as OpenAI does (the common
// cases) and extracts the inputs.
func parseEmbeddings(body []byte) (*conversation, *apiError) {
	var req embeddingsRequest
	if unknown, err := decodeStrict(body, &req); err != nil {
		if unknown != "" {
			return nil, badRequest(fmt.Sprintf("Unrecognized request argument supplied: %s", unknown), "", "")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, badRequest(fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", te.Field, goTypeName(te.Type.Kind().String()), jsonValueName(te.Value)), te.Field, "invalid_type")
		}
		return nil, badRequest(openaiParseError, "", "")
	}
	c := &conversation{embed: &embeddingsCall{}}
	if req.Model != nil {
		c.model = *req.Model
	}
	return c, fillEmbeddings(c, &req)
}

func fillEmbeddings(c *conversation, req *embeddingsRequest) *apiError {
	e := c.embed
	if c.model == "" {
		return badRequest("you must provide a model parameter", "", "")
	}
	if isNull(req.Input) {
		return missingParam("input")
	}
	if err := embeddingInputs(e, req.Input); err != nil {
		return err
	}
	for _, k := range e.keys {
		c.promptChars += len(k)
	}
	c.messages = 0
	if req.EncodingFormat != nil {
		switch *req.EncodingFormat {
		case "float":
		case "base64":
			e.base64 = true
		default:
			return badRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'float' and 'base64'.", *req.EncodingFormat), "encoding_format", "invalid_value")
		}
	}
	e.dims = embeddingDims(c.model)
	if req.Dimensions != nil {
		d := *req.Dimensions
		switch {
		case strings.Contains(c.model, "ada-002"):
			return badRequest("This model does not support specifying dimensions.", "", "")
		case d < 1:
			return badRequest(fmt.Sprintf("Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got %d instead.", d), "dimensions", "integer_below_min_value")
		case d > e.dims:
			return badRequest(fmt.Sprintf("Invalid 'dimensions': integer above maximum value. Expected a value <= %d, but got %d instead.", e.dims, d), "dimensions", "integer_above_max_value")
		}
		e.dims = d
	}
	return nil
}

// embeddingInputs reads input: a string, an array of strings, an array of
// tokens or an array of token arrays, none of them empty.
func embeddingInputs(e *embeddingsCall, raw json.RawMessage) *apiError {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return badRequest(invalidInput, "", "")
		}
		e.keys, e.tokens = []string{one}, []int{tokens(one)}
		return nil
	}
	var texts []string
	if json.Unmarshal(raw, &texts) == nil {
		if len(texts) == 0 || len(texts) > maxEmbeddingInputs {
			return badRequest(invalidInput, "", "")
		}
		for _, t := range texts {
			if t == "" {
				return badRequest(invalidInput, "", "")
			}
			e.keys, e.tokens = append(e.keys, t), append(e.tokens, tokens(t))
		}
		return nil
	}
	var toks []int
	if json.Unmarshal(raw, &toks) == nil {
		if len(toks) == 0 {
			return badRequest(invalidInput, "", "")
		}
		e.keys, e.tokens = []string{tokenKey(toks)}, []int{len(toks)}
		return nil
	}
	var batches [][]int
	if json.Unmarshal(raw, &batches) == nil {
		if len(batches) == 0 || len(batches) > maxEmbeddingInputs {
			return badRequest(invalidInput, "", "")
		}
		for _, b := range batches {
			if len(b) == 0 {
				return badRequest(invalidInput, "", "")
			}
			e.keys, e.tokens = append(e.keys, tokenKey(b)), append(e.tokens, len(b))
		}
		return nil
	}
	return badRequest(invalidInput, "", "")
}

// tokenKey names a token array for hashing; a NUL prefix keeps it apart
// from any text.
func tokenKey(toks []int) string {
	var b strings.Builder
	b.WriteByte(0)
	for _, t := range toks {
		b.WriteString(strconv.Itoa(t))
		b.WriteByte(',')
	}
	return b.String()
}

// Embedding returns the vector the simulator answers for input under model
// with dims dimensions (0: the model's default): deterministic, of unit
// length. A shortened vector is the full one's beginning, renormalised, as
// OpenAI's text-embedding-3 vectors are.
func Embedding(model, input string, dims int) []float32 {
	full := embeddingDims(model)
	if dims <= 0 || dims > full {
		dims = full
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(model))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(input))
	seed := h.Sum64()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	v := make([]float64, full)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	v = v[:dims]
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dims)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

type embeddingsBodyOut struct {
	Object string          `json:"object"`
	Data   []embeddingOut  `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingsUsage `json:"usage"`
}

type embeddingOut struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

type embeddingsUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// embeddingPromptTokens is the usage of an embeddings request: its inputs'
// tokens, with no per-message overhead.
func embeddingPromptTokens(c *conversation) int {
	n := 0
	for _, t := range c.embed.tokens {
		n += t
	}
	return n
}

// embeddingsBody renders the answer: one vector per input, as floats or,
// with encoding_format base64, as the base64 of little-endian float32s.
func embeddingsBody(c *conversation) []byte {
	e := c.embed
	out := embeddingsBodyOut{Object: "list", Model: c.model, Data: make([]embeddingOut, len(e.keys))}
	for i, k := range e.keys {
		v := Embedding(c.model, k, e.dims)
		var emb any = v
		if e.base64 {
			buf := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(x))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		out.Data[i] = embeddingOut{Object: "embedding", Index: i, Embedding: emb}
	}
	n := embeddingPromptTokens(c)
	out.Usage = embeddingsUsage{PromptTokens: n, TotalTokens: n}
	b, _ := json.Marshal(out)
	return b
}
