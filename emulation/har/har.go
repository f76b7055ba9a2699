// Package har writes HTTP flows as an HTTP Archive (HAR 1.2,
// http://www.softwareishard.com/blog/har-12-spec/). The archive is
// streamed: the log's head is written when the Writer is created, each
// entry as it is added, and the closing brackets by Close, so a long run
// does not hold its flows in memory. Until Close the file is not valid
// JSON. Bodies are not recorded, only their sizes.
package har

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Entry is one request and its response, in the terms of HAR's
// log.entries.
type Entry struct {
	Start    time.Time
	Duration time.Duration
	// Wait is the time until the response head, when known; else
	// Duration is accounted as wait.
	Wait            time.Duration
	Method          string
	URL             string
	HTTPVersion     string // e.g. HTTP/1.1, HTTP/2.0, h2
	RequestHeader   http.Header
	RequestBodySize int64 // -1 when unknown
	Status          int
	ResponseHeader  http.Header
	ResponseHTTP    string // protocol of the response; "" = HTTPVersion
	BodySize        int64
	ServerIPAddress string
	Comment         string
}

// Writer streams a HAR log. It is safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	w      *bufio.Writer
	c      io.Closer
	n      int
	err    error
	closed bool
}

// NewWriter starts a HAR log on w with creator name and version; Close
// finishes it and closes w when it is an io.Closer.
func NewWriter(w io.Writer, name, version string) (*Writer, error) {
	hw := &Writer{w: bufio.NewWriter(w)}
	if c, ok := w.(io.Closer); ok {
		hw.c = c
	}
	creator, _ := json.Marshal(map[string]string{"name": name, "version": version})
	if _, err := fmt.Fprintf(hw.w, `{"log":{"version":"1.2","creator":%s,"pages":[],"entries":[`, creator); err != nil {
		return nil, fmt.Errorf("har: %w", err)
	}
	if err := hw.w.Flush(); err != nil {
		return nil, fmt.Errorf("har: %w", err)
	}
	return hw, nil
}

type nameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type entryJSON struct {
	StartedDateTime string       `json:"startedDateTime"`
	Time            float64      `json:"time"`
	Request         requestJSON  `json:"request"`
	Response        responseJSON `json:"response"`
	Cache           struct{}     `json:"cache"`
	Timings         timingsJSON  `json:"timings"`
	ServerIPAddress string       `json:"serverIPAddress,omitempty"`
	Comment         string       `json:"comment,omitempty"`
}

type requestJSON struct {
	Method      string      `json:"method"`
	URL         string      `json:"url"`
	HTTPVersion string      `json:"httpVersion"`
	Cookies     []nameValue `json:"cookies"`
	Headers     []nameValue `json:"headers"`
	QueryString []nameValue `json:"queryString"`
	HeadersSize int         `json:"headersSize"`
	BodySize    int64       `json:"bodySize"`
}

type responseJSON struct {
	Status      int         `json:"status"`
	StatusText  string      `json:"statusText"`
	HTTPVersion string      `json:"httpVersion"`
	Cookies     []nameValue `json:"cookies"`
	Headers     []nameValue `json:"headers"`
	Content     contentJSON `json:"content"`
	RedirectURL string      `json:"redirectURL"`
	HeadersSize int         `json:"headersSize"`
	BodySize    int64       `json:"bodySize"`
}

type contentJSON struct {
	Size     int64  `json:"size"`
	MimeType string `json:"mimeType"`
}

type timingsJSON struct {
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// headers lists h in name order (http.Header keeps no wire order).
func headers(h http.Header) []nameValue {
	out := []nameValue{}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, nameValue{Name: k, Value: v})
		}
	}
	return out
}

func requestCookies(h http.Header) []nameValue {
	out := []nameValue{}
	for _, line := range h.Values("Cookie") {
		cs, err := http.ParseCookie(line)
		if err != nil {
			continue
		}
		for _, c := range cs {
			out = append(out, nameValue{Name: c.Name, Value: c.Value})
		}
	}
	return out
}

func responseCookies(h http.Header) []nameValue {
	out := []nameValue{}
	for _, line := range h.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil {
			out = append(out, nameValue{Name: c.Name, Value: c.Value})
		}
	}
	return out
}

func query(raw string) []nameValue {
	out := []nameValue{}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		out = append(out, nameValue{Name: k, Value: v})
	}
	return out
}

// Add appends e to the log. After a write error every later Add and
// Close return it.
func (w *Writer) Add(e Entry) error {
	wait := e.Wait
	if wait <= 0 || wait > e.Duration {
		wait = e.Duration
	}
	respHTTP := e.ResponseHTTP
	if respHTTP == "" {
		respHTTP = e.HTTPVersion
	}
	j := entryJSON{
		StartedDateTime: e.Start.UTC().Format(time.RFC3339Nano),
		Time:            ms(e.Duration),
		Request: requestJSON{
			Method: e.Method, URL: e.URL, HTTPVersion: e.HTTPVersion,
			Cookies: requestCookies(e.RequestHeader), Headers: headers(e.RequestHeader), QueryString: query(e.URL),
			HeadersSize: -1, BodySize: e.RequestBodySize,
		},
		Response: responseJSON{
			Status: e.Status, StatusText: http.StatusText(e.Status), HTTPVersion: respHTTP,
			Cookies: responseCookies(e.ResponseHeader), Headers: headers(e.ResponseHeader),
			Content:     contentJSON{Size: e.BodySize, MimeType: e.ResponseHeader.Get("Content-Type")},
			RedirectURL: e.ResponseHeader.Get("Location"), HeadersSize: -1, BodySize: e.BodySize,
		},
		Timings:         timingsJSON{Send: 0, Wait: ms(wait), Receive: ms(e.Duration - wait)},
		ServerIPAddress: e.ServerIPAddress,
		Comment:         e.Comment,
	}
	if j.Request.BodySize < 0 {
		j.Request.BodySize = -1
	}
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("har: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return fmt.Errorf("har: writer closed")
	}
	if w.n > 0 {
		_ = w.w.WriteByte(',')
	}
	w.n++
	_, _ = w.w.Write(b)
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("har: %w", err)
	}
	return w.err
}

// Close writes the end of the log and closes the underlying writer.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err == nil {
		_, _ = w.w.WriteString("]}}\n")
		if err := w.w.Flush(); err != nil {
			w.err = fmt.Errorf("har: %w", err)
		}
	}
	if w.c != nil {
		if err := w.c.Close(); err != nil && w.err == nil {
			w.err = fmt.Errorf("har: %w", err)
		}
	}
	return w.err
}
