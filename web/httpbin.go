package web

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// httpbinFields are the fields of httpbin.org's echo that /api/echo answers
// with too, so clients written for httpbin work against it unchanged.
type httpbinFields struct {
	// Args are the query parameters: a string per name, a list for a name
	// given more than once (httpbin's shape).
	Args map[string]any `json:"args"`
	// Data is the body as text when it is neither a form nor multipart.
	Data string `json:"data"`
	// Form holds the fields of an urlencoded or multipart form body.
	Form map[string]any `json:"form"`
	// Files lists the files of a multipart body (the contents are not
	// repeated).
	Files []echoFile `json:"files"`
	// JSON is the body parsed, when it is JSON; null otherwise.
	JSON any `json:"json"`
	// Origin is the client's address as this server sees it.
	Origin string `json:"origin"`
	// URL is the request's full URL.
	URL string `json:"url"`
	// Headers maps each canonical header name to its values joined with
	// ", " (httpbin's shape; the ordered list is in http.headers).
	Headers map[string]string `json:"headers"`
}

// echoFile is one file of a multipart body.
type echoFile struct {
	Field       string `json:"field"`
	Filename    string `json:"filename"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

// maxFormValue bounds a multipart field's value kept in Form.
const maxFormValue = 64 << 10

// pairValues is multiValues of name/value pairs in their order.
func pairValues(pairs [][2]string) map[string]any {
	vals := map[string][]string{}
	var keys []string
	for _, kv := range pairs {
		if _, ok := vals[kv[0]]; !ok {
			keys = append(keys, kv[0])
		}
		vals[kv[0]] = append(vals[kv[0]], kv[1])
	}
	return multiValues(keys, vals)
}

// multiValues turns url.Values-like pairs into httpbin's shape.
func multiValues(keys []string, vals map[string][]string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		vs := vals[k]
		if len(vs) == 1 {
			out[k] = vs[0]
		} else {
			out[k] = vs
		}
	}
	return out
}

// httpbinOf computes the httpbin fields of r, which came over TLS when
// https, whose body (its first bytes, truncated when the body was longer)
// is body.
func httpbinOf(r *http.Request, https bool, body []byte, truncated bool, origin string) httpbinFields {
	f := httpbinFields{Form: map[string]any{}, Files: []echoFile{}, Origin: origin, Headers: map[string]string{}}
	f.Args = pairValues(queryPairs(r.URL.RawQuery))
	scheme := "http"
	if https {
		scheme = "https"
	}
	f.URL = (&url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}).String()
	for name, vs := range r.Header {
		f.Headers[name] = strings.Join(vs, ", ")
	}
	if r.Host != "" {
		f.Headers["Host"] = r.Host
	}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == "application/x-www-form-urlencoded" && !truncated:
		f.Form = pairValues(queryPairs(string(body)))
		return f
	case mt == "multipart/form-data" && params["boundary"] != "" && !truncated:
		if readMultipart(body, params["boundary"], &f) {
			return f
		}
	}
	f.Data, _ = encodeBody(body, truncated)
	if (mt == "application/json" || strings.HasSuffix(mt, "+json")) && !truncated {
		var v any
		if json.Unmarshal(body, &v) == nil {
			f.JSON = v
		}
	}
	return f
}

// readMultipart fills f.Form and f.Files from a complete multipart body and
// reports whether it parsed.
func readMultipart(body []byte, boundary string, f *httpbinFields) bool {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	form := map[string][]string{}
	var keys []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false
		}
		if p.FileName() != "" {
			n, err := io.Copy(io.Discard, p)
			if err != nil {
				return false
			}
			f.Files = append(f.Files, echoFile{Field: p.FormName(), Filename: p.FileName(), Size: n, ContentType: p.Header.Get("Content-Type")})
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, maxFormValue))
		if err != nil {
			return false
		}
		name := p.FormName()
		if _, ok := form[name]; !ok {
			keys = append(keys, name)
		}
		text, _ := encodeBody(v, false)
		form[name] = append(form[name], text)
	}
	f.Form = multiValues(keys, form)
	return true
}
