package proxy

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/guanaco-fp/guanaco/emulation"
)

// websocketHeaderOrder names a WebSocket handshake's own headers with the
// casing browsers write (RFC 6455 spells "Sec-WebSocket-Key"; net/http
// hands the proxy "Sec-Websocket-Key"), in Chromium's order. Passed to
// emulation.WithHeaderOrder, it fixes the casing and relative order of
// those the client sent and the profile's list has no slot for.
var websocketHeaderOrder = []string{
	"Upgrade", "Origin", "Sec-WebSocket-Version", "Cookie",
	"Sec-WebSocket-Key", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol",
}

// clientWebSocket is what the proxy keeps of a client's WebSocket handshake
// to answer it once the upstream accepted.
type clientWebSocket struct {
	// h2: the client sent an RFC 8441 extended CONNECT; body is its
	// stream (the request body), and the proxy answers 200.
	h2   bool
	body io.ReadCloser
	// key is the Sec-WebSocket-Key sent upstream: the client's own over
	// HTTP/1.1, one the proxy made for an HTTP/2 client (an HTTP/1.1
	// upstream needs one).
	key string
}

// isExtendedConnectWebSocket reports whether r is an RFC 8441 extended
// CONNECT for a WebSocket (HTTP/2, :protocol websocket; net/http puts the
// pseudo header in r.Header).
func isExtendedConnectWebSocket(r *http.Request) bool {
	return r.ProtoMajor == 2 && r.Method == http.MethodConnect && strings.EqualFold(r.Header.Get(":protocol"), "websocket")
}

// fromExtendedConnect turns an HTTP/2 client's extended CONNECT into the
// RFC 6455 handshake it stands for (RFC 8441 §5): GET with Upgrade:
// websocket, Connection: Upgrade and a fresh Sec-WebSocket-Key, the
// client's other fields kept. The returned request has no body; the
// client's stream is in the handshake.
func fromExtendedConnect(r *http.Request) (*clientWebSocket, *http.Request, error) {
	if v := strings.TrimSpace(r.Header.Get("Sec-WebSocket-Version")); v != "13" {
		return nil, nil, fmt.Errorf("extended CONNECT websocket with Sec-WebSocket-Version %q: only 13 is relayed", truncate(v, 16))
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	ws := &clientWebSocket{h2: true, body: r.Body, key: base64.StdEncoding.EncodeToString(nonce[:])}
	r2 := r.Clone(r.Context())
	r2.Method = http.MethodGet
	r2.Body = http.NoBody
	r2.ContentLength = 0
	r2.Header.Del(":protocol")
	r2.Header.Del("Sec-WebSocket-Key")
	r2.Header.Set("Upgrade", "websocket")
	r2.Header.Set("Connection", "Upgrade")
	r2.Header.Set("Sec-WebSocket-Key", ws.key)
	return ws, r2, nil
}

// wsAcceptFor is RFC 6455's Sec-WebSocket-Accept for key.
func wsAcceptFor(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// isWebSocketAccepted reports whether resp accepts a WebSocket the
// transport sent: a 101 (HTTP/1.1 Upgrade) or a 2xx to an extended
// CONNECT (HTTP/2), with the stream or connection as its Body.
func isWebSocketAccepted(resp *http.Response) bool {
	if _, ok := resp.Body.(io.ReadWriteCloser); !ok {
		return resp.StatusCode == http.StatusSwitchingProtocols // refused below
	}
	return resp.StatusCode == http.StatusSwitchingProtocols || resp.ProtoMajor == 2 && resp.StatusCode/100 == 2
}

// serveWebSocket completes a WebSocket handshake the upstream accepted
// (resp is its 101 or, over HTTP/2, its 2xx; resp.Body the upstream
// connection or stream), in the client's protocol whatever the
// upstream's: an HTTP/1.1 client gets a 101 (with the Sec-WebSocket-Accept
// of its own key when the upstream spoke HTTP/2, which has none) on the
// connection taken over; an HTTP/2 client gets a 200 on its stream (after
// the upstream's 101 has been checked against the key the proxy sent).
// Then bytes are relayed both ways until either side closes or neither
// sends anything for IdleTimeout. WebSocket frames are the same in both
// protocols, so they pass unchanged.
//
// A connection taken over from the proxy listener is tracked as a tunnel
// (counted in OpenTunnels, closed by Shutdown after its grace period and
// by Close); one inside a CONNECT tunnel is already tracked through that
// tunnel. The upstream connection or stream is closed when the relay ends.
func (p *Proxy) serveWebSocket(w http.ResponseWriter, r *http.Request, ws *clientWebSocket, resp *http.Response, prof *emulation.Profile, target *url.URL, start time.Time) {
	upstream, ok := resp.Body.(io.ReadWriteCloser)
	fail := func(code int, msg string) {
		if upstream != nil {
			_ = upstream.Close()
		}
		p.m.requests.WithLabelValues(prof.Name, protoLabel(resp), "0").Inc()
		flowOf(r.Context()).Err = msg
		writeError(w, code, msg)
	}
	if !ok {
		fail(http.StatusBadGateway, "upstream switched protocols without a usable connection")
		return
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if got := resp.Header.Get("Upgrade"); !strings.EqualFold(strings.TrimSpace(got), "websocket") {
			fail(http.StatusBadGateway, "upstream switched to protocol "+strconv.Quote(truncate(got, 64))+", not websocket")
			return
		}
		if ws.h2 && resp.Header.Get("Sec-WebSocket-Accept") != wsAcceptFor(ws.key) {
			fail(http.StatusBadGateway, "upstream answered the WebSocket handshake with a wrong Sec-WebSocket-Accept")
			return
		}
	}
	if ws.h2 {
		p.serveWebSocketH2(w, ws, resp, upstream, prof, target, start)
		return
	}
	head := resp.Header
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// An HTTP/2 upstream: the client's 101 needs the accept value
		// of the client's own key.
		head = resp.Header.Clone()
		head.Set("Upgrade", "websocket")
		head.Set("Sec-WebSocket-Accept", wsAcceptFor(ws.key))
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		fail(http.StatusInternalServerError, "cannot take over the connection: "+err.Error())
		return
	}
	_ = nc.SetDeadline(time.Time{})
	var client io.ReadWriteCloser = &bufferedConn{Conn: nc, r: brw.Reader}
	if _, inTunnel := r.Context().Value(tunnelKey{}).(*tunnelMeta); !inTunnel {
		tc := &tunnelConn{Conn: nc, br: brw.Reader, p: p, start: start,
			meta: &tunnelMeta{authority: target.Host, host: target.Hostname()}}
		if !p.track(tc) {
			_ = nc.Close()
			_ = upstream.Close()
			return
		}
		client = tc
	}
	p.m.requests.WithLabelValues(prof.Name, protoLabel(resp), "101").Inc()
	if err := writeSwitchingHead(brw.Writer, head); err != nil {
		_ = client.Close()
		_ = upstream.Close()
		p.log.Debug("proxy: writing the 101 to the client failed", "url", target.Redacted(), "err", err)
		return
	}
	up, down, err := relay(client, upstream, p.o.IdleTimeout)
	p.log.Debug("proxy: websocket closed", "url", target.Redacted(), "profile", prof.Name, "client", "http/1.1", "upstream_proto", protoLabel(resp),
		"bytes_up", up, "bytes_down", down, "duration", time.Since(start), "err", err)
}

// serveWebSocketH2 answers an HTTP/2 client's extended CONNECT with 200
// and the upstream's end-to-end headers (Sec-WebSocket-Extensions and
// -Protocol, say; not the accept value, which RFC 8441 drops), then
// relays between the client's stream and the upstream.
func (p *Proxy) serveWebSocketH2(w http.ResponseWriter, ws *clientWebSocket, resp *http.Response, upstream io.ReadWriteCloser, prof *emulation.Profile, target *url.URL, start time.Time) {
	dst := w.Header()
	for k, vs := range resp.Header {
		dst[k] = append(dst[k], vs...)
	}
	stripHopByHop(dst)
	dst.Del("Sec-WebSocket-Accept")
	dst.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		_ = upstream.Close()
		p.log.Debug("proxy: answering the extended CONNECT failed", "url", target.Redacted(), "err", err)
		return
	}
	p.m.requests.WithLabelValues(prof.Name, protoLabel(resp), "200").Inc()
	client := &h2ServerStream{body: ws.body, w: w, rc: rc}
	up, down, err := relay(client, upstream, p.o.IdleTimeout)
	p.log.Debug("proxy: websocket closed", "url", target.Redacted(), "profile", prof.Name, "client", "h2", "upstream_proto", protoLabel(resp),
		"bytes_up", up, "bytes_down", down, "duration", time.Since(start), "err", err)
}

// h2ServerStream is an HTTP/2 client's extended CONNECT stream as seen by
// the handler: reads from the request body, writes to the response (each
// flushed). Close ends both: the body read fails and a write blocked on
// the client's flow control gives up. The handler's return ends the
// stream.
type h2ServerStream struct {
	body io.ReadCloser
	w    io.Writer
	rc   *http.ResponseController
}

func (s *h2ServerStream) Read(b []byte) (int, error) { return s.body.Read(b) }

func (s *h2ServerStream) Write(b []byte) (int, error) {
	n, err := s.w.Write(b)
	if err == nil {
		err = s.rc.Flush()
	}
	return n, err
}

func (s *h2ServerStream) Close() error {
	_ = s.rc.SetWriteDeadline(time.Now())
	return s.body.Close()
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// bufferedConn reads through the server's buffered reader, which may hold
// bytes the client sent after its request head.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// writeSwitchingHead writes "101 Switching Protocols" with the upstream's
// headers: Upgrade and Connection: Upgrade first, then the end-to-end
// headers in name order (net/http keeps no wire order), without other
// hop-by-hop headers or those the upstream's Connection names, and
// without fields whose name or value is not valid on the wire.
func writeSwitchingHead(bw *bufio.Writer, h http.Header) error {
	rest := make(http.Header, len(h))
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		rest[ck] = append(rest[ck], vs...)
	}
	upgrade := strings.TrimSpace(rest.Get("Upgrade"))
	if upgrade == "" || !httpguts.ValidHeaderFieldValue(upgrade) {
		upgrade = "websocket"
	}
	stripHopByHop(rest)
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	bw.WriteString("Upgrade: " + upgrade + "\r\n")
	bw.WriteString("Connection: Upgrade\r\n")
	names := make([]string, 0, len(rest))
	for name := range rest {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !httpguts.ValidHeaderFieldName(name) {
			continue
		}
		for _, v := range rest[name] {
			if !httpguts.ValidHeaderFieldValue(v) {
				continue
			}
			bw.WriteString(name + ": " + v + "\r\n")
		}
	}
	bw.WriteString("\r\n")
	return bw.Flush()
}

// activityWriter records the time of every write in last (Unix nanos).
type activityWriter struct {
	w    io.Writer
	last *atomic.Int64
}

func (a activityWriter) Write(b []byte) (int, error) {
	n, err := a.w.Write(b)
	if n > 0 {
		a.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// relay copies client to upstream and upstream to client until one
// direction ends (EOF or error) or no byte moved either way for idle
// (no limit when idle <= 0), then closes both and waits for the other
// direction. It returns the bytes sent upstream and downstream and the
// error that ended the relay, nil for a clean close.
func relay(client, upstream io.ReadWriteCloser, idle time.Duration) (up, down int64, err error) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	type result struct {
		n    int64
		err  error
		upst bool
	}
	done := make(chan result, 2)
	go func() {
		n, err := io.Copy(activityWriter{w: upstream, last: &last}, client)
		done <- result{n: n, err: err, upst: true}
	}()
	go func() {
		n, err := io.Copy(activityWriter{w: client, last: &last}, upstream)
		done <- result{n: n, err: err}
	}()
	var tick <-chan time.Time
	if idle > 0 {
		t := time.NewTicker(max(idle/4, 10*time.Millisecond))
		defer t.Stop()
		tick = t.C
	}
	record := func(res result) {
		if res.upst {
			up = res.n
		} else {
			down = res.n
		}
	}
	pending := 2
wait:
	for {
		select {
		case res := <-done:
			pending--
			record(res)
			err = res.err
			break wait
		case <-tick:
			if time.Since(time.Unix(0, last.Load())) >= idle {
				err = errIdle
				break wait
			}
		}
	}
	_ = client.Close()
	_ = upstream.Close()
	for ; pending > 0; pending-- {
		record(<-done)
	}
	return up, down, err
}

// errIdle ends a relay in which nothing moved for the idle timeout.
var errIdle = errors.New("proxy: websocket idle timeout")
