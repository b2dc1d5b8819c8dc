// Package deploytest checks the deployment files of the repository — the
// docker-compose.yaml, otel-collector.yaml, the Prometheus rules and scrape
// configuration, the Grafana provisioning and dashboards, and the Kubernetes
// manifests — with the real parsers of the tools that read them
// (compose-go, Prometheus' PromQL and rule parsers, the Grafana Foundation
// SDK's strict dashboard decoder, k8s.io/api and the Prometheus Operator's
// types). It has no code of its own: only tests.
//
// The tests of TestObservabilityStack start the real components (OpenTelemetry
// Collector, Jaeger, Prometheus, two kt sims and the gateway) and run only when
// KT_OBS_BIN names the directory scripts/obs-tools.sh installed them into
// (`make e2e`).
package deploytest
