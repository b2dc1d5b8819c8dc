package sim

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/tidwall/sjson"

	"github.com/keeptrusts/gateway/pkg/provider"
)

// The Azure OpenAI simulator (KindAzureOpenAI) speaks OpenAI's bodies,
// answers and streams on Azure's URLs:
//
//	POST /openai/deployments/{deployment}/chat/completions?api-version=V
//	POST /openai/deployments/{deployment}/embeddings?api-version=V
//	POST /openai/deployments/{deployment}/completions?api-version=V
//	GET  /openai/models?api-version=V
//
// The deployments are the simulator's Models; the deployment, not the
// body's model, chooses the model (as on Azure, which ignores the body's
// model). A request without api-version gets Azure's 404, one with a
// malformed version its 400, an unknown deployment DeploymentNotFound.
// The key is the api-key header, or an Entra ID token as Authorization:
// Bearer (both checked against Options.ExpectKey when it is set). Errors
// have Azure's {"error":{"code","message"}} shape; the content_policy
// fault answers Azure's content_filter 400.

// azureAPIVersionRE is the shape of a dated api-version.
var azureAPIVersionRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$`)

// azureOps are the model APIs served under a deployment, by the path after
// /openai/deployments/{deployment}/.
var azureOps = map[string]provider.API{
	"chat/completions": provider.APIChat,
	"embeddings":       provider.APIEmbeddings,
	"completions":      provider.APICompletions,
}

// serveAzure routes a request to an Azure OpenAI simulator.
func (s *Sim) serveAzure(x *exchange) {
	rest, ok := strings.CutPrefix(x.r.URL.Path, "/openai/")
	if !ok {
		s.writeError(x, http.StatusNotFound, azureResourceNotFound)
		return
	}
	if rest == "models" {
		x.kind = reqProbe
		if s.azureVersioned(x) {
			s.serveModels(x)
		}
		return
	}
	rest, ok = strings.CutPrefix(rest, "deployments/")
	if !ok {
		s.writeError(x, http.StatusNotFound, azureResourceNotFound)
		return
	}
	dep, op, _ := strings.Cut(rest, "/")
	api, ok := azureOps[op]
	if !ok || dep == "" {
		s.writeError(x, http.StatusNotFound, azureResourceNotFound)
		return
	}
	if !s.azureVersioned(x) {
		return
	}
	if !s.hasModel(dep) {
		s.writeError(x, http.StatusNotFound, azureError("DeploymentNotFound",
			"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."))
		return
	}
	x.kind, x.api, x.deployment = reqChat, api, dep
	s.serveChat(x)
}

// azureVersioned checks the api-version query Azure requires: missing, the
// route does not exist (404); malformed, 400.
func (s *Sim) azureVersioned(x *exchange) bool {
	v := x.r.URL.Query().Get("api-version")
	switch {
	case v == "":
		s.writeError(x, http.StatusNotFound, azureResourceNotFound)
		return false
	case !azureAPIVersionRE.MatchString(v):
		s.writeError(x, http.StatusBadRequest, azureError("BadRequest", "API version not supported"))
		return false
	}
	return true
}

// azureAuthorized accepts the api-key header or an Entra ID bearer token,
// each compared with the expected key when one is set.
func (s *Sim) azureAuthorized(x *exchange) bool {
	if s.expectKey == "" {
		return true
	}
	got := strings.TrimSpace(x.r.Header.Get("api-key"))
	if got == "" {
		got, _ = strings.CutPrefix(x.r.Header.Get("Authorization"), "Bearer ")
		got = strings.TrimSpace(got)
	}
	if got == "" {
		s.writeError(x, http.StatusUnauthorized, azureAuthError(false))
		return false
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.expectKey)) != 1 {
		s.writeError(x, http.StatusUnauthorized, azureAuthError(true))
		return false
	}
	return true
}

// withModel sets the body's model to the deployment; a body that is not a
// JSON object is left for the parser to refuse.
func withModel(body []byte, model string) []byte {
	out, err := sjson.SetBytes(body, "model", model)
	if err != nil {
		return body
	}
	return out
}

// azureError is Azure's own error shape, {"error":{"code","message"}}.
func azureError(code, message string) apiError {
	b, _ := json.Marshal(struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{Error: struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message}})
	return apiError{message: message, code: code, body: b}
}

// azureResourceNotFound is Azure's 404 for a path (or a missing
// api-version) it does not route.
var azureResourceNotFound = azureError("404", "Resource not found")

// azureAuthError is Azure's 401 for a missing (wrong=false) or wrong key.
func azureAuthError(wrong bool) apiError {
	if wrong {
		return azureError("401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "+
			"for an active subscription and use a correct regional API endpoint for your resource.")
	}
	return azureError("401", "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.")
}

// azureErrorFor is Azure's error for a status, as the error and rate_limit
// faults send it.
func azureErrorFor(status int, model string) apiError {
	switch status {
	case 401:
		return azureAuthError(true)
	case 403:
		return azureError("PermissionDenied", "Principal does not have access to API/Operation.")
	case 404:
		return azureError("DeploymentNotFound", "The API deployment for this resource does not exist.")
	case 429:
		return azureError("429", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded call rate limit "+
			"of your current OpenAI S0 pricing tier. Please retry after the time in the Retry-After header.")
	case 500:
		return azureError("InternalServerError", "The service is temporarily unable to process your request. Please try again later.")
	case 503:
		return azureError("ServiceUnavailable", "The service is temporarily unable to process your request. Please try again later.")
	}
	if status >= 400 && status < 500 && status != 408 {
		return openaiErrorFor(status, model)
	}
	return azureError(strconv.Itoa(status), http.StatusText(status))
}
