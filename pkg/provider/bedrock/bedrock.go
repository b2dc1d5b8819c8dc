// Package bedrock is the adapter for Amazon Bedrock's Converse API.
// Clients speak OpenAI Chat Completions; this package translates their
// requests into Converse (POST {base}/model/{modelId}/converse, and
// /converse-stream for streams), signs them with AWS Signature Version 4
// (service "bedrock") using the AWS SDK's credential chain, and translates
// the answers back: whole ones in converse.go, the binary event stream
// (application/vnd.amazon.eventstream) in eventstream.go and stream.go.
package bedrock

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// SigningName is the SigV4 service name of Bedrock's runtime and control
// plane.
const SigningName = "bedrock"

// Kind is the bedrock provider kind.
var Kind = provider.Kind{
	Name:      "bedrock",
	GenAIName: "aws.bedrock",
	// Derived from region: https://bedrock-runtime.{region}.amazonaws.com.
	DefaultBaseURL: "",
	KeyRequired:    false,
	Fields:         []string{"region"},
	Sim:            "bedrock",
	Probe:          "GET /foundation-models on the control plane (bedrock.{region}.amazonaws.com), signed: no tokens, fails on bad credentials",
	Validate:       validate,
	New:            newFromSpec,
}

// regionRE is the shape of an AWS region name (us-east-1, eu-central-2,
// us-gov-west-1).
var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// runtimeHostRE reads the region out of a regional runtime endpoint.
var runtimeHostRE = regexp.MustCompile(`^bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`)

// regionOf is the target's region: region, else the one base_url's host
// names; "" when neither says.
func regionOf(t *provider.TargetSpec) string {
	if t.Region != "" {
		return t.Region
	}
	if t.BaseURL == "" {
		return ""
	}
	u, err := url.Parse(t.BaseURL)
	if err != nil {
		return ""
	}
	if m := runtimeHostRE.FindStringSubmatch(u.Hostname()); m != nil {
		return m[1]
	}
	return ""
}

// validate: a target needs a region to sign with and to derive its
// endpoint from; with base_url set to a regional runtime endpoint the
// region is read from it, any other base_url (a VPC endpoint, kt sim)
// needs region too, since the signature's scope names it.
func validate(t *provider.TargetSpec) []provider.FieldProblem {
	switch {
	case t.Region == "" && regionOf(t) == "":
		return []provider.FieldProblem{{Field: "region", Message: "required for bedrock (the AWS region to call and sign for, e.g. us-east-1), unless base_url is a bedrock-runtime.{region}.amazonaws.com endpoint"}}
	case t.Region != "" && !regionRE.MatchString(t.Region):
		return []provider.FieldProblem{{Field: "region", Message: fmt.Sprintf("%q is not an AWS region name (e.g. us-east-1)", t.Region)}}
	}
	return nil
}

// adapter implements provider.Adapter for one bedrock target: the region
// and credentials are the target's own. now and newID are fields so that
// tests can pin the chunks' timestamps and ids.
type adapter struct {
	region  string
	runtime string // default runtime base URL
	control string // default control plane base URL (probes)
	creds   aws.CredentialsProvider
	signer  *v4.Signer
	now     func() time.Time
	newID   func() string
}

var (
	_ provider.Adapter            = (*adapter)(nil)
	_ provider.ParamAdapter       = (*adapter)(nil)
	_ provider.EventReaderAdapter = (*adapter)(nil)
)

func newFromSpec(t *provider.TargetSpec) (provider.Adapter, error) {
	if probs := validate(t); len(probs) > 0 {
		return nil, fmt.Errorf("%s: %s", probs[0].Field, probs[0].Message)
	}
	region := regionOf(t)
	var creds aws.CredentialsProvider
	if t.APIKey == "" {
		c, err := credentialsFor(region, t.Environ)
		if err != nil {
			return nil, err
		}
		creds = c
	}
	return New(region, creds), nil
}

// New returns the adapter of a target in region whose requests are signed
// with creds (cached by the caller or not: it is asked once per request).
// A nil creds sends the target's key as a Bedrock API key (Authorization:
// Bearer) instead of signing.
func New(region string, creds aws.CredentialsProvider) provider.Adapter {
	return &adapter{
		region:  region,
		runtime: "https://bedrock-runtime." + region + ".amazonaws.com",
		control: "https://bedrock." + region + ".amazonaws.com",
		creds:   creds,
		signer:  v4.NewSigner(),
		now:     time.Now,
		newID:   newCompletionID,
	}
}

// credentialsFor builds the credential chain of a target. Static keys in
// environ (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) are
// used as they are, so that a gateway given its environment explicitly
// (tests, embedding) does not read the process's; otherwise the SDK's
// default chain (environment, shared config and credentials files with
// AWS_PROFILE, web identity, ECS and EC2 instance roles), behind the SDK's
// credential cache, which refreshes temporary credentials before they
// expire. Nothing is fetched here: the chain resolves on first use.
func credentialsFor(region string, environ []string) (aws.CredentialsProvider, error) {
	if environ == nil {
		environ = os.Environ()
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "AWS_") {
			env[k] = v
		}
	}
	if id, secret := env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]; id != "" && secret != "" {
		return credentials.NewStaticCredentialsProvider(id, secret, env["AWS_SESSION_TOKEN"]), nil
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if p := env["AWS_PROFILE"]; p != "" {
		opts = append(opts, config.WithSharedConfigProfile(p))
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg.Credentials, nil
}

func newCompletionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "chatcmpl-" + hex.EncodeToString(b[:])
}

// Kind is "bedrock".
func (a *adapter) Kind() string { return "bedrock" }

// Params returns the bedrock parameter table (provider.ParamAdapter).
func (a *adapter) Params() *provider.ParamTable { return paramTable }

func (a *adapter) base(ep *provider.Endpoint) string {
	if ep.BaseURL == "" {
		return a.runtime
	}
	return strings.TrimSuffix(ep.BaseURL, "/")
}

// escapeModelID escapes every byte but the unreserved ones, as the SDK
// does for a URI label: an ARN's ':' and '/' stay inside one path segment.
func escapeModelID(id string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// ChatRequest builds the Converse (or ConverseStream) request from the
// client's OpenAI body and signs it.
func (a *adapter) ChatRequest(ctx context.Context, ep *provider.Endpoint, r *provider.Request) (*http.Request, error) {
	if r.Model == "" {
		return nil, &provider.RequestError{Param: "model", Message: "a model is required"}
	}
	body, err := translateRequest(r.Body, ep.DefaultMaxTokens)
	if err != nil {
		return nil, err
	}
	op := "/converse"
	if r.Stream {
		op = "/converse-stream"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base(ep)+"/model/"+escapeModelID(r.Model)+op, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build bedrock request: %w", err)
	}
	copyHeaders(req.Header, ep.Header, r.Header)
	req.Header.Set("Content-Type", "application/json")
	if r.Stream {
		req.Header.Set("Accept", "application/vnd.amazon.eventstream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	key := ep.APIKey
	if r.APIKey != "" {
		key = r.APIKey
	}
	if err := a.authorize(ctx, req, body, key, SigningName); err != nil {
		return nil, err
	}
	return req, nil
}

// copyHeaders copies the static and client headers; credentials among them
// are dropped: the adapter sets its own.
func copyHeaders(dst http.Header, hs ...http.Header) {
	for _, h := range hs {
		for k, v := range h {
			dst[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
		}
	}
	for _, k := range []string{"Authorization", "X-Api-Key", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		dst.Del(k)
	}
}

// authorize signs req with the target's credentials or, when it has a
// Bedrock API key and no credential chain, sends the key as a bearer token.
func (a *adapter) authorize(ctx context.Context, req *http.Request, body []byte, key, service string) error {
	if a.creds == nil {
		if key == "" {
			return fmt.Errorf("bedrock: neither AWS credentials nor an API key are configured")
		}
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	}
	creds, err := a.creds.Retrieve(ctx)
	if err != nil {
		// The chain's error names where it looked, never a secret.
		return fmt.Errorf("bedrock: retrieve AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := a.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, a.region, a.now().UTC()); err != nil {
		return fmt.Errorf("bedrock: sign request: %w", err)
	}
	return nil
}

// ChatResponse translates a 2xx Converse answer into a chat.completion.
func (a *adapter) ChatResponse(body []byte, r *provider.Request) (*provider.Response, error) {
	return translateResponse(body, a.newID(), r.Model, a.now().Unix())
}

// ErrorBody maps Bedrock's error body ({"message": ...}, the exception's
// name in the x-amzn-ErrorType header) onto an OpenAI error body. A body
// that is not such JSON is never echoed (it may be a proxy's HTML page).
func (a *adapter) ErrorBody(status int, body []byte) []byte {
	var eb struct {
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	msg := ""
	if json.Unmarshal(body, &eb) == nil {
		msg = eb.Message
		if msg == "" {
			msg = eb.MessageU
		}
	}
	if msg == "" {
		if t := http.StatusText(status); t != "" {
			msg = fmt.Sprintf("bedrock upstream answered HTTP %d %s", status, t)
		} else {
			msg = fmt.Sprintf("bedrock upstream answered HTTP %d", status)
		}
	}
	code := ""
	if status == http.StatusTooManyRequests {
		code = "rate_limit_exceeded"
	}
	return provider.ErrorJSON(msg, provider.ErrorTypeForStatus(status), "", code)
}

// ProbeRequest lists the foundation models (GET /foundation-models on the
// control plane, bedrock.{region}.amazonaws.com, signed for service
// "bedrock"): it costs no tokens and fails with 403 on bad credentials.
// With base_url set the probe goes to {base_url}/foundation-models (kt
// sim serves it); the credentials need bedrock:ListFoundationModels.
func (a *adapter) ProbeRequest(ctx context.Context, ep *provider.Endpoint) (*http.Request, error) {
	base := a.control
	if ep.BaseURL != "" {
		base = strings.TrimSuffix(ep.BaseURL, "/")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/foundation-models?byOutputModality=TEXT", nil)
	if err != nil {
		return nil, fmt.Errorf("build bedrock probe: %w", err)
	}
	copyHeaders(req.Header, ep.Header)
	if err := a.authorize(ctx, req, nil, ep.APIKey, SigningName); err != nil {
		return nil, err
	}
	return req, nil
}
