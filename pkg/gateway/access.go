package gateway

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/keeptrusts/gateway/pkg/auth"
	"github.com/keeptrusts/gateway/pkg/limits"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// Span attributes naming the caller of an authenticated request.
const (
	attrTeam    = "keeptrusts.team"
	attrKeyName = "keeptrusts.key.name"
)

// Error codes of refused requests, in the answer and the event.
const (
	codeInvalidKey     = "invalid_api_key"
	codeRateLimited    = "rate_limit_exceeded"
	codeBudgetExceeded = "budget_exceeded"
)

// authenticate finds the gateway key a request carries.
func authenticate(rt *runtime, r *http.Request) (auth.Key, bool) {
	token, ok := auth.ClientKey(r.Header)
	if !ok {
		return auth.Key{}, false
	}
	return rt.keys.Lookup(token)
}

// writeAuthError answers a request without a valid gateway key with 401,
// as OpenAI does; the presented key is never echoed.
func writeAuthError(w http.ResponseWriter, r *http.Request, api provider.API) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="keeptrusts"`)
	msg := "Invalid gateway key. Send a key from auth.keys as Authorization: Bearer <key> or X-Api-Key: <key>."
	if _, ok := auth.ClientKey(r.Header); !ok {
		msg = "You didn't provide a gateway key. Send it as Authorization: Bearer <key> or X-Api-Key: <key> (this gateway has auth enabled)."
	}
	writeAPIError(w, api, http.StatusUnauthorized, msg, provider.ErrTypeInvalidRequest, "", codeInvalidKey)
}

// admit authenticates a model request and applies its team's rate limits
// and budgets. It answers the request and returns false when it may not
// proceed; the request's team is recorded on rec and on the server span.
func (g *Gateway) admit(ctx context.Context, rt *runtime, w http.ResponseWriter, r *http.Request, rec *record) bool {
	key, ok := authenticate(rt, r)
	if !ok {
		rec.status, rec.errCode = http.StatusUnauthorized, codeInvalidKey
		writeAuthError(w, r, rec.api)
		return false
	}
	rec.team, rec.keyName = key.Team, key.Name
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attribute.String(attrTeam, key.Team), attribute.String(attrKeyName, key.Name))
	}
	d := g.limits.Admit(key.Team, time.Now())
	d.SetHeaders(w.Header())
	if d.Allowed() {
		return true
	}
	rec.status = http.StatusTooManyRequests
	typ, code := string(d.Reason), codeRateLimited
	if d.Reason == limits.DailyBudget || d.Reason == limits.MonthlyBudget {
		// Retrying within seconds cannot help: tell the OpenAI SDKs not to.
		w.Header().Set("X-Should-Retry", "false")
		typ, code = "insufficient_quota", codeBudgetExceeded
	}
	rec.errCode = code
	g.tel.RecordLimit(ctx, key.Team, string(d.Reason))
	writeAPIError(w, rec.api, http.StatusTooManyRequests, d.Message(key.Team), typ, "", code)
	return false
}
