package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/guanaco-fp/guanaco/web/apidoc"
)

// TestOpenAPIDocumentMatchesAnswers loads /api/openapi.json, checks it is a
// valid OpenAPI 3 document, then sends real requests to every documented
// path and validates each answer (status, content type, JSON body) against
// it, and checks that /api lists every documented path.
func TestOpenAPIDocumentMatchesAnswers(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do("GET", "https://fp.example/api/openapi.json", nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/openapi.json = %d", w.Code)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(w.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("invalid OpenAPI document: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	// A capture to look up and its JA4 for the population view.
	w = e.do("GET", "https://fp.example/api/fingerprint", nil, nil)
	var rep struct {
		CaptureID    string `json:"capture_id"`
		Fingerprints struct {
			JA4 string `json:"ja4"`
		} `json:"fingerprints"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, path, ctype, body string
		status                    int
	}{
		{"GET", "/api", "", "", 200},
		{"GET", "/api/openapi.json", "", "", 200},
		{"GET", "/api/fingerprint", "", "", 200},
		{"GET", "/api/clean", "", "", 200},
		{"GET", "/api/echo?a=1&a=2", "", "", 200},
		{"POST", "/api/echo", "application/json", `{"x":1}`, 200},
		{"PUT", "/api/echo", "application/x-www-form-urlencoded", "a=b", 200},
		{"DELETE", "/api/echo", "", "", 200},
		{"GET", "/api/captures/" + rep.CaptureID, "", "", 200},
		{"GET", "/api/captures/ffffffffffffffffffffffffffffffff", "", "", 404},
		{"GET", "/api/fingerprints/" + rep.Fingerprints.JA4, "", "", 200},
		{"GET", "/api/fingerprints/" + rep.Fingerprints.JA4 + "?kind=ja4", "", "", 200},
		{"GET", "/api/fingerprints/nothex", "", "", 400},
		{"GET", "/api/stats?window=24h", "", "", 200},
		{"GET", "/api/profiles", "", "", 200},
		{"GET", "/api/profiles/nobody", "", "", 404},
	}
	for _, tc := range cases {
		url := "https://fp.example" + tc.path
		w := e.do(tc.method, url, strings.NewReader(tc.body), func(r *http.Request) {
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
		})
		if w.Code != tc.status {
			t.Errorf("%s %s = %d, want %d: %s", tc.method, tc.path, w.Code, tc.status, w.Body.String())
			continue
		}
		req := httptest.NewRequest(tc.method, url, strings.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: not in the document: %v", tc.method, tc.path, err)
			continue
		}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 w.Code,
			Header:                 w.Header(),
			Body:                   io.NopCloser(bytes.NewReader(w.Body.Bytes())),
		}
		if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
			t.Errorf("%s %s: the answer does not match the document: %v", tc.method, tc.path, err)
		}
	}
	// The index lists every documented path.
	eps, err := apidoc.Endpoints()
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != len(doc.Paths.Map()) {
		t.Errorf("index lists %d paths, the document %d", len(eps), len(doc.Paths.Map()))
	}
	for _, ep := range eps {
		if ep.Summary == "" || len(ep.Methods) == 0 {
			t.Errorf("index entry %+v", ep)
		}
	}
}
