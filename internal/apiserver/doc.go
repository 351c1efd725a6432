// Package apiserver serves Slipway's HTTP interfaces: the REST API under /api/v1 (bearer admin
// token, or a GitHub Actions OIDC token for the few calls a deploying workflow makes, see
// auth.go), the agent protocol under /agent/v1 (enrollment token, then each instance's own
// credential), health and readiness probes, and Prometheus metrics. openapi.yaml documents all of
// it (served at /api/v1/openapi.yaml); its tests hold it to the router and to internal/api's types.
//
// Handlers translate between internal/api's wire types and the store and orchestrator; they hold
// no state of their own. One function, writeError, maps errors to status codes and JSON bodies.
package apiserver
