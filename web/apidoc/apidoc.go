// Package apidoc holds fpserver's OpenAPI 3 document (openapi.json), served
// at /api/openapi.json and checked against real answers by web's tests.
package apidoc

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

//go:embed openapi.json
var document []byte

// Document returns the OpenAPI 3 document.
func Document() []byte { return document }

// Endpoint is one path of the document: its HTTP methods (upper case, in
// the document's order of the standard methods) and summary.
type Endpoint struct {
	Path    string   `json:"path"`
	Methods []string `json:"methods"`
	Summary string   `json:"summary"`
}

// Endpoints lists the document's paths, sorted.
func Endpoints() ([]Endpoint, error) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(document, &doc); err != nil {
		return nil, fmt.Errorf("apidoc: %w", err)
	}
	var out []Endpoint
	for path, item := range doc.Paths {
		e := Endpoint{Path: path}
		if s, ok := item["summary"]; ok {
			_ = json.Unmarshal(s, &e.Summary)
		}
		for _, m := range []string{"get", "post", "put", "patch", "delete", "options", "trace"} {
			op, ok := item[m]
			if !ok {
				continue
			}
			e.Methods = append(e.Methods, strings.ToUpper(m))
			if e.Summary == "" {
				var o struct {
					Summary string `json:"summary"`
				}
				_ = json.Unmarshal(op, &o)
				e.Summary = o.Summary
			}
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
