package apiserver

import (
	_ "embed"
	"net/http"

	"github.com/slipway-deploy/slipway/internal/api"
)

// openAPIPath serves the OpenAPI document of every route. It needs no token: it is the API's
// published documentation and holds nothing about this server's state.
const openAPIPath = api.PathAPI + "/openapi.yaml"

// openAPIDoc describes the REST API, the agent protocol and the probes. Tests hold it to the
// router and to internal/api's types, so it cannot drift from what the server does.
//
//go:embed openapi.yaml
var openAPIDoc []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPIDoc)
}
