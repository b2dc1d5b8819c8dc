package gateway

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/keeptrusts/gateway/pkg/policy"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// evaluatePolicies runs the request policies inside one "policies" span.
func (g *Gateway) evaluatePolicies(ctx context.Context, engine *policy.Engine, api provider.API, body []byte) ([]byte, []policy.Result, bool, error) {
	_, span := g.tel.Tracer().Start(ctx, "policies")
	defer span.End()
	out, results, blocked, err := engine.EvaluateRequestAPI(api, body)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "policy evaluation failed")
		return nil, nil, false, err
	}
	for _, r := range results {
		span.AddEvent("policy", trace.WithAttributes(
			attribute.String("keeptrusts.policy.name", r.Policy),
			attribute.String("keeptrusts.policy.type", r.Type),
			attribute.String("keeptrusts.policy.action", string(r.Action)),
			attribute.String("keeptrusts.policy.outcome", r.Outcome),
			attribute.StringSlice("keeptrusts.policy.categories", r.Categories),
		))
	}
	span.SetAttributes(attribute.Bool("keeptrusts.policy.blocked", blocked))
	return out, results, blocked, nil
}

// policyHeader summarises hits for the X-Keeptrusts-Policy header:
// "content-filter=flagged:hate,violence; other=redacted:sexual".
func policyHeader(rs []policy.Result) string {
	var b strings.Builder
	for _, r := range rs {
		if !r.Hit() {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.Policy + "=" + r.Outcome + ":" + strings.Join(r.Categories, ","))
	}
	return b.String()
}

// blockedBy names the blocking policies and their categories.
func blockedBy(rs []policy.Result) string {
	var parts []string
	for _, r := range rs {
		if r.Outcome == "blocked" {
			parts = append(parts, r.Policy+": "+strings.Join(r.Categories, ", "))
		}
	}
	return strings.Join(parts, "; ")
}
