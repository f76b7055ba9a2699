package proxy

import (
	"bufio"
	"errors"
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

// serveWebSocket completes a WebSocket handshake the upstream accepted
// (resp is its 101, resp.Body the upstream connection): it takes over the
// client connection, writes the 101 head, then relays bytes both ways
// until either side closes or neither sends anything for IdleTimeout.
//
// A connection taken over from the proxy listener is tracked as a tunnel
// (counted in OpenTunnels, closed by Shutdown after its grace period and
// by Close); one inside a CONNECT tunnel is already tracked through that
// tunnel. The upstream connection is closed when the relay ends.
func (p *Proxy) serveWebSocket(w http.ResponseWriter, r *http.Request, resp *http.Response, prof *emulation.Profile, target *url.URL, start time.Time) {
	upstream, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		p.m.requests.WithLabelValues(prof.Name, protoLabel(resp), "0").Inc()
		writeError(w, http.StatusBadGateway, "upstream switched protocols without a usable connection")
		return
	}
	if got := resp.Header.Get("Upgrade"); !strings.EqualFold(strings.TrimSpace(got), "websocket") {
		_ = upstream.Close()
		p.m.requests.WithLabelValues(prof.Name, protoLabel(resp), "0").Inc()
		writeError(w, http.StatusBadGateway, "upstream switched to protocol "+strconv.Quote(truncate(got, 64))+", not websocket")
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = upstream.Close()
		p.m.requests.WithLabelValues(prof.Name, protoLabel(resp), "0").Inc()
		writeError(w, http.StatusInternalServerError, "cannot take over the connection: "+err.Error())
		return
	}
	_ = nc.SetDeadline(time.Time{})
	var client net.Conn = &bufferedConn{Conn: nc, r: brw.Reader}
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
	if err := writeSwitchingHead(brw.Writer, resp.Header); err != nil {
		_ = client.Close()
		_ = upstream.Close()
		p.log.Debug("proxy: writing the 101 to the client failed", "url", target.Redacted(), "err", err)
		return
	}
	up, down, err := relay(client, upstream, p.o.IdleTimeout)
	p.log.Debug("proxy: websocket closed", "url", target.Redacted(), "profile", prof.Name,
		"bytes_up", up, "bytes_down", down, "duration", time.Since(start), "err", err)
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
func relay(client net.Conn, upstream io.ReadWriteCloser, idle time.Duration) (up, down int64, err error) {
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
