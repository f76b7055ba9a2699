package proxy

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Flow is one request the proxy handled, as the access log and
// Options.OnFlow see it once it has ended.
type Flow struct {
	Start    time.Time
	Duration time.Duration
	// Client is the client's address (host:port).
	Client string
	// Proto is the client's protocol: HTTP/1.1, HTTP/2.0 (inside a TLS
	// tunnel).
	Proto  string
	Method string
	// URL is the destination URL (for CONNECT: the host:port asked for).
	URL  string
	Host string
	// Profile is the profile the request went out as; "" when it was
	// answered before one was chosen (a refusal).
	Profile string
	// Upstream is the upstream proxy's name; "" when direct.
	Upstream string
	// UpstreamProto is the protocol spoken with the destination (h2,
	// http/1.1); "" when it was not reached.
	UpstreamProto string
	// Status is the status sent to the client.
	Status int
	// Bytes counts the response body bytes sent to the client.
	Bytes          int64
	RequestHeader  http.Header
	ResponseHeader http.Header
	// RequestBodySize is the request's Content-Length, -1 when unknown.
	RequestBodySize int64
	// Err is the full error of a request that failed upstream (for the
	// operator: it may name resolved addresses, which the client's error
	// body never does); "" when none.
	Err string
}

// flowKey carries the *Flow a handler fills in.
type flowKey struct{}

func flowOf(ctx context.Context) *Flow {
	f, _ := ctx.Value(flowKey{}).(*Flow)
	if f == nil {
		return &Flow{} // a throwaway: the request is not logged
	}
	return f
}

// flowWriter records the status and body size a handler sends.
type flowWriter struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

func (w *flowWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *flowWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and the deadlines.
func (w *flowWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack marks the flow as taken over (CONNECT, WebSocket).
func (w *flowWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
		if w.status == 0 {
			w.status = http.StatusSwitchingProtocols
		}
	}
	return c, brw, err
}

// logged wraps h so that every request ends in one access log line at
// info level (with the full error of a failed request) and one
// Options.OnFlow call, even when the handler aborts
// (http.ErrAbortHandler). A CONNECT that opened a tunnel is logged at
// debug level only: the requests inside the tunnel get their own lines.
func (p *Proxy) logged(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f := &Flow{Start: time.Now(), Client: r.RemoteAddr, Proto: r.Proto, Method: r.Method, Host: r.Host,
			URL: r.URL.String(), RequestHeader: r.Header.Clone(), RequestBodySize: r.ContentLength}
		if r.Method == http.MethodConnect {
			f.URL = r.Host
		}
		fw := &flowWriter{ResponseWriter: w}
		defer func() {
			f.Duration = time.Since(f.Start)
			f.Status, f.Bytes = fw.status, fw.bytes
			if f.Status == 0 {
				f.Status = http.StatusOK
			}
			if !fw.hijacked || r.Method != http.MethodConnect {
				f.ResponseHeader = w.Header().Clone()
			}
			p.endFlow(r.Context(), f, r.Method == http.MethodConnect && fw.hijacked)
		}()
		h(fw, r.WithContext(context.WithValue(r.Context(), flowKey{}, f)))
	}
}

// endFlow writes the access log line and hands the flow to OnFlow.
func (p *Proxy) endFlow(ctx context.Context, f *Flow, tunnel bool) {
	level := slog.LevelInfo
	if tunnel {
		level = slog.LevelDebug
	}
	if p.log.Enabled(ctx, level) {
		attrs := []slog.Attr{
			slog.String("client", f.Client), slog.String("profile", f.Profile), slog.String("method", f.Method),
			slog.String("host", f.Host), slog.Int("status", f.Status), slog.Int64("bytes", f.Bytes),
			slog.Duration("duration", f.Duration), slog.String("upstream_proto", f.UpstreamProto),
		}
		if f.Upstream != "" {
			attrs = append(attrs, slog.String("upstream", f.Upstream))
		}
		if f.Err != "" {
			attrs = append(attrs, slog.String("err", f.Err))
		}
		msg := "request"
		if tunnel {
			msg = "tunnel"
		}
		p.log.LogAttrs(ctx, level, msg, attrs...)
	}
	if p.o.OnFlow != nil && !tunnel {
		p.o.OnFlow(*f)
	}
}
