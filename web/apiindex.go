package web

import (
	"net/http"

	"github.com/guanaco-fp/guanaco/web/apidoc"
)

// apiIndexBody is the JSON of GET /api.
type apiIndexBody struct {
	OpenAPI   string            `json:"openapi"`
	Endpoints []apidoc.Endpoint `json:"endpoints"`
}

// apiIndex serves GET /api: the endpoints of the OpenAPI document.
func (h *handler) apiIndex(w http.ResponseWriter, r *http.Request) {
	eps, err := apidoc.Endpoints()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	h.writeJSON(w, r, http.StatusOK, apiIndexBody{OpenAPI: "/api/openapi.json", Endpoints: eps})
}

// apiDocument serves GET /api/openapi.json.
func (h *handler) apiDocument(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	h.writeRawJSON(w, http.StatusOK, apidoc.Document())
}
