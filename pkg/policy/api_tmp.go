package policy

// TEMPORARY (replaced at merge by the policy branch).

import "github.com/keeptrusts/gateway/pkg/provider"

// EvaluateRequestAPI is EvaluateRequest for api.
func (e *Engine) EvaluateRequestAPI(api provider.API, body []byte) ([]byte, []Result, bool, error) {
	if api != provider.APIChat {
		return body, nil, false, nil
	}
	return e.EvaluateRequest(body)
}
