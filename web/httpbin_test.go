package web

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

type httpbinAnswer struct {
	Args    map[string]any    `json:"args"`
	Data    string            `json:"data"`
	Form    map[string]any    `json:"form"`
	Files   []echoFile        `json:"files"`
	JSON    any               `json:"json"`
	Origin  string            `json:"origin"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Method  string            `json:"method"`
}

func echoAs(t *testing.T, e *env, method, url, ctype string, body []byte) httpbinAnswer {
	t.Helper()
	w := e.do(method, url, bytes.NewReader(body), func(r *http.Request) {
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		r.Header.Add("X-Twice", "a")
		r.Header.Add("X-Twice", "b")
	})
	if w.Code != http.StatusOK {
		t.Fatalf("%s %s = %d: %s", method, url, w.Code, w.Body.String())
	}
	var a httpbinAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestEchoHTTPBinFields: /api/echo answers with httpbin's fields too: args
// (lists for repeated names), form (urlencoded and multipart, files listed
// by name, size and type), json, data, origin, url and headers.
func TestEchoHTTPBinFields(t *testing.T) {
	e := newEnv(t, nil)
	a := echoAs(t, e, "GET", "https://fp.example/api/echo/x?a=1&b=2&b=3", "", nil)
	if !reflect.DeepEqual(a.Args, map[string]any{"a": "1", "b": []any{"2", "3"}}) {
		t.Errorf("args %v", a.Args)
	}
	if a.URL != "https://fp.example/api/echo/x?a=1&b=2&b=3" || a.Origin == "" || a.Headers["X-Twice"] != "a, b" || a.Headers["Host"] != "fp.example" {
		t.Errorf("url %q origin %q headers %v", a.URL, a.Origin, a.Headers)
	}
	a = echoAs(t, e, "POST", "https://fp.example/api/echo", "application/x-www-form-urlencoded", []byte("k=v&k=w&x=%20y"))
	if !reflect.DeepEqual(a.Form, map[string]any{"k": []any{"v", "w"}, "x": " y"}) || a.Data != "" || a.JSON != nil {
		t.Errorf("urlencoded: form %v data %q json %v", a.Form, a.Data, a.JSON)
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("field", "value")
	fw, _ := mw.CreateFormFile("upload", "notes.txt")
	_, _ = fw.Write([]byte(strings.Repeat("n", 1234)))
	_ = mw.Close()
	a = echoAs(t, e, "PUT", "https://fp.example/api/echo", mw.FormDataContentType(), mp.Bytes())
	if a.Form["field"] != "value" || len(a.Files) != 1 || a.Files[0] != (echoFile{Field: "upload", Filename: "notes.txt", Size: 1234, ContentType: "application/octet-stream"}) {
		t.Errorf("multipart: form %v files %+v", a.Form, a.Files)
	}
	a = echoAs(t, e, "PATCH", "https://fp.example/api/echo", "application/json", []byte(`{"n":1,"l":[true,null]}`))
	if !reflect.DeepEqual(a.JSON, map[string]any{"n": float64(1), "l": []any{true, nil}}) || a.Data != `{"n":1,"l":[true,null]}` || a.Method != "PATCH" {
		t.Errorf("json: %v data %q", a.JSON, a.Data)
	}
	a = echoAs(t, e, "POST", "https://fp.example/api/echo", "application/json", []byte(`{not json`))
	if a.JSON != nil || a.Data != "{not json" {
		t.Errorf("bad json: %v data %q", a.JSON, a.Data)
	}
}
