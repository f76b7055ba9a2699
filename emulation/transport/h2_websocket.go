package transport

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/guanaco-fp/guanaco/emulation"
)

// UsesExtendedConnect reports whether p's browser opens WebSockets as
// RFC 8441 extended CONNECT streams on an HTTP/2 connection whose server
// enabled them: the profile has an HTTP/2 websocket header list (captured
// from such a stream). Without one the browser's WebSockets were only
// seen over HTTP/1.1.
func UsesExtendedConnect(p *emulation.Profile) bool {
	return p != nil && p.H2 != nil && len(p.H2.Headers[emulation.WebSocket]) > 0
}

// roundTripExtendedConnect sends a WebSocket handshake as an RFC 8441
// extended CONNECT on a pooled HTTP/2 connection to key whose server sent
// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, as Chromium and Firefox do when
// they hold such a connection. ok is false when there is none (or the
// profile's browser does not use extended CONNECT): the caller then sends
// the HTTP/1.1 Upgrade on a connection of its own, as the browsers do
// (they never open an HTTP/2 connection for a WebSocket).
func (t *Transport) roundTripExtendedConnect(req *http.Request, p *emulation.Profile, key poolKey) (resp *http.Response, err error, ok bool) {
	if key.scheme != "https" || t.o.HTTP1Only || !UsesExtendedConnect(p) {
		return nil, nil, false
	}
	for {
		cc := t.extendedConnectConn(key)
		if cc == nil {
			return nil, nil, false
		}
		resp, err := cc.send(req, p, true)
		if errors.Is(err, errConnUnusable) {
			continue
		}
		return resp, err, true
	}
}

// extendedConnectConn returns a pooled HTTP/2 connection to key that can
// open a stream and whose server enabled extended CONNECT, or nil.
func (t *Transport) extendedConnectConn(key poolKey) *h2Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	hp := t.pools[key]
	if hp == nil {
		return nil
	}
	t.lru.MoveToFront(hp.elem)
	for _, cc := range hp.h2 {
		cc.mu.Lock()
		ok := cc.canTakeLocked() && cc.extConnect
		cc.mu.Unlock()
		if ok {
			return cc
		}
	}
	return nil
}

// h2WebSocket is the Body of a 2xx response to an extended CONNECT: the
// stream in both directions. Reads return the server's DATA (returning
// flow-control credit as they go, like a response body) and io.EOF after
// its END_STREAM; writes send DATA frames within the stream's and the
// connection's send windows, blocking while either is exhausted.
// CloseWrite ends our direction (END_STREAM). Close ends the stream: with
// END_STREAM when the server has ended its direction, else with
// RST_STREAM(CANCEL). It is safe to Read, Write and Close from different
// goroutines.
type h2WebSocket struct {
	s *h2Stream
	// wmu serialises Write and CloseWrite, so END_STREAM follows the
	// last DATA. A Write waiting for window gives it up when Close runs.
	wmu    sync.Mutex
	closed bool // guarded by cc.mu
}

var _ io.ReadWriteCloser = (*h2WebSocket)(nil)

// errWebSocketClosed is returned by Read and Write after Close.
var errWebSocketClosed = errors.New("transport: websocket stream closed")

func (b *h2WebSocket) Read(p []byte) (int, error) {
	s := b.s
	cc := s.cc
	for {
		cc.mu.Lock()
		if b.closed {
			cc.mu.Unlock()
			return 0, errWebSocketClosed
		}
		if len(s.buf) > 0 {
			n, wu, swu := s.takeLocked(p)
			cc.mu.Unlock()
			_ = cc.sendWindowUpdates(wu, s.id, swu)
			return n, nil
		}
		if err := s.bodyErr; err != nil {
			cc.mu.Unlock()
			return 0, err
		}
		cc.mu.Unlock()
		<-s.wake
	}
}

// Write sends p as DATA frames no larger than the server's
// SETTINGS_MAX_FRAME_SIZE, each within the flow-control windows.
func (b *h2WebSocket) Write(p []byte) (int, error) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	s := b.s
	cc := s.cc
	written := 0
	for len(p) > 0 {
		cc.mu.Lock()
		for {
			switch {
			case b.closed:
				cc.mu.Unlock()
				return written, errWebSocketClosed
			case s.sentEnd:
				cc.mu.Unlock()
				return written, errors.New("transport: write after CloseWrite on a websocket stream")
			case s.reset || cc.closed:
				err := s.bodyErr
				if err == nil || err == io.EOF {
					err = errors.New("transport: websocket stream reset")
				}
				cc.mu.Unlock()
				return written, fmt.Errorf("transport: writing to a websocket stream: %w", err)
			}
			if s.sendWin > 0 && cc.sendWin > 0 {
				break
			}
			ch := cc.changed
			cc.mu.Unlock()
			<-ch
			cc.mu.Lock()
		}
		n := min(int32(min(len(p), int(cc.peerMaxFrame))), s.sendWin, cc.sendWin)
		s.sendWin -= n
		cc.sendWin -= n
		cc.mu.Unlock()
		chunk := p[:n]
		if err := cc.writeFrames(func() error { return cc.fr.WriteData(s.id, false, chunk) }); err != nil {
			return written, fmt.Errorf("transport: writing to a websocket stream: %w", err)
		}
		written += int(n)
		p = p[n:]
	}
	return written, nil
}

// CloseWrite ends the client's direction of the stream (an empty DATA
// frame with END_STREAM); reading goes on until the server ends its own.
func (b *h2WebSocket) CloseWrite() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	s := b.s
	cc := s.cc
	cc.mu.Lock()
	if s.sentEnd || s.removed {
		cc.mu.Unlock()
		return nil
	}
	s.sentEnd = true
	cc.broadcastLocked() // wakes a Write waiting for window: it fails
	cc.mu.Unlock()
	err := cc.writeFrames(func() error { return cc.fr.WriteData(s.id, true, nil) })
	cc.mu.Lock()
	cc.maybeFinishLocked(s)
	cc.mu.Unlock()
	return err
}

// Close ends the stream (see h2WebSocket); later calls do nothing.
func (b *h2WebSocket) Close() error {
	s := b.s
	cc := s.cc
	cc.mu.Lock()
	if b.closed {
		cc.mu.Unlock()
		return nil
	}
	b.closed = true
	cc.broadcastLocked()
	recvEnded := s.recvEnd
	unread := int32(len(s.buf))
	s.buf = nil
	var wu int32
	if recvEnded {
		wu = cc.creditLocked(unread)
	}
	cc.mu.Unlock()
	if !recvEnded {
		cc.cancelStream(s, errWebSocketClosed)
		return nil
	}
	_ = cc.sendWindowUpdates(wu, 0, 0)
	return b.CloseWrite()
}
