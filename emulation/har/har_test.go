package har

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestWriter: the archive is valid HAR 1.2 JSON after Close, with one
// entry per Add (concurrent adds included) and the fields HAR requires.
func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "emuproxy", "test")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			err := w.Add(Entry{Start: start, Duration: 30 * time.Millisecond, Wait: 10 * time.Millisecond, Method: "GET",
				URL: "https://example.org/a?x=1&y=%20", HTTPVersion: "HTTP/2.0",
				RequestHeader: http.Header{"Cookie": {"a=1; b=2"}, "User-Agent": {"ua"}}, RequestBodySize: -1,
				Status: 200 + i%2, ResponseHeader: http.Header{"Content-Type": {"text/html"}, "Set-Cookie": {"s=3; Path=/"}},
				ResponseHTTP: "h2", BodySize: 42})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Log struct {
			Version string `json:"version"`
			Creator struct {
				Name string `json:"name"`
			} `json:"creator"`
			Entries []struct {
				StartedDateTime string  `json:"startedDateTime"`
				Time            float64 `json:"time"`
				Request         struct {
					Method      string              `json:"method"`
					QueryString []map[string]string `json:"queryString"`
					Cookies     []map[string]string `json:"cookies"`
					HeadersSize int                 `json:"headersSize"`
					BodySize    int                 `json:"bodySize"`
				} `json:"request"`
				Response struct {
					Status  int `json:"status"`
					Content struct {
						Size     int    `json:"size"`
						MimeType string `json:"mimeType"`
					} `json:"content"`
					Cookies []map[string]string `json:"cookies"`
				} `json:"response"`
				Timings map[string]float64 `json:"timings"`
			} `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	l := doc.Log
	if l.Version != "1.2" || l.Creator.Name != "emuproxy" || len(l.Entries) != 10 {
		t.Fatalf("log %+v", l)
	}
	e := l.Entries[0]
	if e.StartedDateTime != "2026-01-02T03:04:05Z" || e.Time != 30 || e.Timings["wait"] != 10 || e.Timings["receive"] != 20 {
		t.Errorf("times: %+v", e)
	}
	if len(e.Request.QueryString) != 2 || e.Request.QueryString[1]["value"] != " " || len(e.Request.Cookies) != 2 || e.Request.BodySize != -1 {
		t.Errorf("request: %+v", e.Request)
	}
	if e.Response.Content.Size != 42 || e.Response.Content.MimeType != "text/html" || len(e.Response.Cookies) != 1 {
		t.Errorf("response: %+v", e.Response)
	}
	if err := w.Add(Entry{}); err == nil {
		t.Error("Add after Close succeeded")
	}
}
