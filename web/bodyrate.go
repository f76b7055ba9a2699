package web

import (
	"io"
	"net/http"
	"strings"
	"time"
)

// BodyLimits bounds how long a request body may take to arrive.
//
// Timeout is the most time a body may take in total, counted from the
// moment the handler starts. MinRate (bytes per second) and Grace add a
// minimum rate: after n bytes, the next byte must arrive before
// start + Grace + n/MinRate (and before start + Timeout). A body that falls
// behind is cut off: the read fails, HTTP/1.1 connections are closed and
// HTTP/2 streams reset. Zero fields disable their part.
type BodyLimits struct {
	Timeout time.Duration
	MinRate float64
	Grace   time.Duration
}

// LimitBodies returns next with l applied to every request that has a body.
// WebSocket upgrades and CONNECT requests (extended CONNECT included) are
// left alone: their bodies are long-lived streams, not uploads.
func LimitBodies(next http.Handler, l BodyLimits) http.Handler {
	if l.Timeout <= 0 && l.MinRate <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 ||
			r.Method == http.MethodConnect || strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			next.ServeHTTP(w, r)
			return
		}
		b := &rateBody{ReadCloser: r.Body, rc: http.NewResponseController(w), start: time.Now(), l: l}
		// The first deadline holds even when the handler never reads the
		// body, so net/http's discarding of an unread body is bounded too.
		b.setDeadline()
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

// rateBody is a request body whose reads carry LimitBodies' deadline.
type rateBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	n     int64
	l     BodyLimits
}

// deadline is the time the next byte must arrive by; zero means none.
func (b *rateBody) deadline() time.Time {
	var dl time.Time
	if b.l.MinRate > 0 {
		dl = b.start.Add(b.l.Grace + time.Duration(float64(b.n)/b.l.MinRate*float64(time.Second)))
	}
	if b.l.Timeout > 0 {
		if hard := b.start.Add(b.l.Timeout); dl.IsZero() || hard.Before(dl) {
			dl = hard
		}
	}
	return dl
}

func (b *rateBody) setDeadline() {
	// A connection that cannot take deadlines (http.ErrNotSupported) is
	// served without them; there is nothing else to do about the error.
	_ = b.rc.SetReadDeadline(b.deadline())
}

// Read reads from the body with the deadline for the bytes read so far.
func (b *rateBody) Read(p []byte) (int, error) {
	b.setDeadline()
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
