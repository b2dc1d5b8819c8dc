// Package gateway is the HTTP face of the product: it builds the runtime
// (targets, breakers, probes, router) from a loaded configuration, serves the
// OpenAI-compatible API, /health and the orchestrator endpoints, relays
// streams, adds keeptrusts_metadata, and shuts down gracefully.
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/health"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/kinds"
	"github.com/keeptrusts/gateway/pkg/router"
	"github.com/keeptrusts/gateway/pkg/telemetry"
)

// adapterFor builds the adapter of one target through its kind's
// constructor; an unknown kind is an error (config validation rejects it
// first, so reaching it here is a caller's bug, not a silent default).
func adapterFor(tc config.Target, key string, environ []string) (provider.Adapter, error) {
	k, ok := kinds.Lookup(tc.Provider)
	if !ok {
		return nil, fmt.Errorf("unknown provider %q", tc.Provider)
	}
	spec := tc.Spec()
	spec.APIKey = key
	spec.Environ = environ
	ad, err := k.New(&spec)
	if err != nil {
		return nil, fmt.Errorf("%s target %s: %w", k.Name, tc.ID, err)
	}
	return ad, nil
}

// newTransport returns the one transport a target uses for all its requests
// and probes: keep-alive pool sized for a proxy, bounded dial and TLS time.
// Response time is bounded per attempt by the router, not here.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// newConn builds a target's adapter, endpoint, client, health and probe.
func newConn(tc config.Target, key string, environ []string, logger *slog.Logger, tel *telemetry.Telemetry) (*conn, error) {
	ad, err := adapterFor(tc, key, environ)
	if err != nil {
		return nil, err
	}
	hdr := make(http.Header, len(tc.Headers))
	for k, v := range tc.Headers {
		hdr.Set(k, v)
	}
	ep := &provider.Endpoint{
		BaseURL:          tc.BaseURL,
		APIKey:           key,
		Header:           hdr,
		DefaultMaxTokens: tc.DefaultMaxTokens,
		Version:          tc.AnthropicVersion,
	}
	ep.Prepare()
	hc, cb := tc.HealthCheck, tc.CircuitBreaker
	ht := health.NewTarget(health.Options{
		ID: tc.ID,
		Breaker: health.BreakerSettings{
			Enabled:             cb.IsEnabled(),
			ConsecutiveFailures: cb.ConsecutiveFailures,
			FailureRatio:        cb.FailureRatio,
			MinRequests:         cb.MinRequests,
			Interval:            seconds(cb.IntervalSeconds),
			OpenTimeout:         seconds(cb.OpenSeconds),
			MaxOpenTimeout:      seconds(cb.MaxOpenSeconds),
			HalfOpenRequests:    cb.HalfOpenRequests,
		},
		Probe: health.ProbeSettings{
			Enabled:            hc.IsEnabled(),
			Interval:           seconds(hc.IntervalSeconds),
			Timeout:            seconds(hc.TimeoutSeconds),
			UnhealthyThreshold: hc.UnhealthyThreshold,
			HealthyThreshold:   hc.HealthyThreshold,
		},
		Logger: logger.With("component", "health"),
	})
	// Requests carry the attempt's (or a traced probe's) trace context.
	client := &http.Client{Transport: tel.Transport(newTransport())}
	return &conn{
		spec: tc,
		key:  key,
		target: router.Target{
			ID:                tc.ID,
			Adapter:           ad,
			Endpoint:          ep,
			Client:            client,
			Health:            ht,
			ForwardClientAuth: tc.ForwardClientAuth,
		},
		probe: health.Probe{
			Target: ht,
			Check: tel.WrapProbe(tc.ID, tc.Provider, health.HTTPCheck(client,
				func(ctx context.Context) (*http.Request, error) { return ad.ProbeRequest(ctx, ep) })),
		},
	}, nil
}
