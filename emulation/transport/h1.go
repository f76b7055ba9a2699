package transport

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
)

// h1Conn is one HTTP/1.1 connection: one request at a time, kept alive
// between requests unless either side asks to close.
type h1Conn struct {
	t     *Transport
	nc    net.Conn
	state *tls.ConnectionState // nil for plain http
	br    *bufio.Reader
	bw    *bufio.Writer

	pool     *hostPool
	ownsSlot bool // holds a token in pool.h1Slots, released on close
	// upgrade marks the unpooled connection of a WebSocket handshake: a
	// 101 response hands it over to the caller (see upgradeBody).
	upgrade bool

	mu        sync.Mutex
	reused    bool // served a request before; a failure before any response byte may be a server-side idle close
	idle      bool
	closed    bool
	idleTimer *time.Timer
}

func newH1Conn(t *Transport, nc net.Conn, state *tls.ConnectionState) *h1Conn {
	return &h1Conn{t: t, nc: nc, state: state, br: bufio.NewReaderSize(nc, 32<<10), bw: bufio.NewWriterSize(nc, 16<<10)}
}

// takeFromIdle claims an idle connection for a request; false when it was
// closed meanwhile.
func (c *h1Conn) takeFromIdle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.idle {
		return false
	}
	c.idle = false
	c.reused = true
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	return true
}

func (c *h1Conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	_ = c.nc.Close()
	if c.ownsSlot && c.pool != nil {
		<-c.pool.h1Slots
		c.t.poolChanged(c.pool)
	}
}

// release returns the connection to the pool after a complete exchange.
func (c *h1Conn) release() {
	if !c.ownsSlot {
		c.close()
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.idle = true
	c.mu.Unlock()
	c.t.putIdleH1(c)
	c.mu.Lock()
	if c.idle && !c.closed {
		c.idleTimer = time.AfterFunc(c.t.o.IdleConnTimeout, func() {
			if c.takeFromIdle() {
				c.t.removeIdleH1(c)
				c.close()
			}
		})
	}
	c.mu.Unlock()
}

// roundTrip writes req with the profile's header order and casing and
// reads the response. The connection is reused when the exchange ends
// cleanly and neither side sent Connection: close.
func (c *h1Conn) roundTrip(req *http.Request, p *emulation.Profile) (*http.Response, error) {
	ctx := req.Context()
	stop := make(chan struct{})
	// Closing through c.close marks the connection closed, so that an
	// exchange cut by its context never returns it to the pool.
	closeOnCancel(ctx, closerFunc(c.close), stop)
	stopped := false
	stopWatch := func() {
		if !stopped {
			stopped = true
			close(stop)
		}
	}
	fail := func(err error) (*http.Response, error) {
		stopWatch()
		c.close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("transport: %s %s: %w", req.Method, req.URL.Redacted(), cerr)
		}
		c.mu.Lock()
		reused := c.reused
		c.mu.Unlock()
		if reused && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			// The server closed the kept-alive connection as we reused it;
			// the request never got an answer and may go on a new one.
			return nil, retryable(err)
		}
		return nil, err
	}

	headers := c.t.o.Headers(p, req, false)
	chunked := req.Body != nil && req.Body != http.NoBody && req.ContentLength <= 0
	closeAfter := req.Close
	for _, h := range headers {
		if strings.EqualFold(h.Name, "connection") && strings.EqualFold(strings.TrimSpace(h.Value), "close") {
			closeAfter = true
		}
		if strings.EqualFold(h.Name, "transfer-encoding") {
			chunked = false // the header list already states it; never write it twice
		}
	}
	if err := writeH1Head(c.bw, req, headers, chunked); err != nil {
		return fail(err)
	}
	if req.Body != nil && req.Body != http.NoBody {
		if err := writeH1Body(c.bw, req.Body, chunked); err != nil {
			return fail(err)
		}
	}
	if err := c.bw.Flush(); err != nil {
		return fail(fmt.Errorf("transport: writing request to %s: %w", c.nc.RemoteAddr(), err))
	}
	var resp *http.Response
	var err error
	for {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			return fail(fmt.Errorf("transport: reading response from %s: %w", c.nc.RemoteAddr(), err))
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // interim response; the final one follows
		}
		break
	}
	resp.TLS = c.state
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if !c.upgrade {
			return fail(fmt.Errorf("transport: %s answered 101 Switching Protocols to a request that asked for no upgrade", c.nc.RemoteAddr()))
		}
		// The connection now belongs to the caller: the request's
		// context no longer closes it and it never returns to a pool.
		stopWatch()
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		resp.Body = &upgradeBody{br: c.br, nc: c.nc}
		return resp, nil
	}
	reuse := !closeAfter && !resp.Close
	body := &h1Body{c: c, rc: resp.Body, reuse: reuse, stop: stopWatch}
	resp.Body = body
	if req.Method == http.MethodHead || resp.ContentLength == 0 && len(resp.TransferEncoding) == 0 {
		// http.ReadResponse returns an empty body; the exchange is over.
		body.finish(true)
	}
	return resp, nil
}

// writeH1Head writes the request line and headers exactly as listed.
func writeH1Head(bw *bufio.Writer, req *http.Request, headers []emulation.Header, chunked bool) error {
	target := req.URL.RequestURI()
	if req.Method == http.MethodConnect {
		target = req.URL.Host
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if strings.ContainsAny(method+target, " \r\n") {
		return errors.New("transport: invalid method or request target")
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(target)
	bw.WriteString(" HTTP/1.1\r\n")
	for _, h := range headers {
		if h.Name == "" || strings.ContainsAny(h.Name, ":\r\n \t") || strings.ContainsAny(h.Value, "\r\n\x00") {
			return fmt.Errorf("transport: invalid header %q", h.Name)
		}
		bw.WriteString(h.Name)
		bw.WriteString(": ")
		bw.WriteString(h.Value)
		bw.WriteString("\r\n")
	}
	if chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// writeH1Body copies body to bw, chunk-encoded when chunked.
func writeH1Body(bw *bufio.Writer, body io.Reader, chunked bool) error {
	if !chunked {
		if _, err := io.Copy(bw, body); err != nil {
			return fmt.Errorf("transport: writing request body: %w", err)
		}
		return nil
	}
	buf := make([]byte, 16<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			fmt.Fprintf(bw, "%x\r\n", n)
			bw.Write(buf[:n])
			bw.WriteString("\r\n")
		}
		if err == io.EOF {
			_, werr := bw.WriteString("0\r\n\r\n")
			return werr
		}
		if err != nil {
			return fmt.Errorf("transport: reading request body: %w", err)
		}
	}
}

// h1Body returns the connection to the pool when the body has been read
// to EOF and closes it when the caller closes the body early.
type h1Body struct {
	c     *h1Conn
	rc    io.ReadCloser
	reuse bool
	stop  func()
	once  sync.Once
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

// Close ends the exchange; a body not read to EOF closes the connection.
func (b *h1Body) Close() error {
	b.finish(false)
	return nil
}

func (b *h1Body) finish(atEOF bool) {
	b.once.Do(func() {
		b.stop()
		if atEOF && b.reuse {
			_ = b.rc.Close()
			b.c.release()
			return
		}
		// Close the connection first: closing an unread body would
		// otherwise drain it.
		b.c.close()
		_ = b.rc.Close()
	})
}
