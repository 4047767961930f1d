package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// openapiYAML is the OpenAPI 3.1 description of the REST API, kept beside
// the handlers; TestOpenAPI checks real answers of every operation
// against it.
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI returns the description, loaded and validated once.
var OpenAPI = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openapiYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return doc, nil
})

// openapiJSON is the description as JSON, for GET /v1/openapi.json.
var openapiJSON = sync.OnceValues(func() ([]byte, error) {
	doc, err := OpenAPI()
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
})

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	data, err := openapiJSON()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(data)
}
