package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/guanaco-fp/guanaco/emulation"
)

// h2WebSocketDropped are the handshake fields of RFC 6455 that an
// extended CONNECT does not carry (RFC 8441 §5: no key, no accept; the
// upgrade itself is the :protocol pseudo header).
var h2WebSocketDropped = map[string]bool{
	"sec-websocket-key": true, "upgrade": true, "connection": true,
}

// h2Forbidden are header fields HTTP/2 forbids (RFC 9113 8.2.2) or that
// are carried by pseudo headers.
var h2Forbidden = map[string]bool{
	"connection": true, "proxy-connection": true, "keep-alive": true,
	"transfer-encoding": true, "upgrade": true, "host": true,
}

// roundTrip sends req on a new stream. errConnUnusable means the caller
// should pick another connection.
func (cc *h2Conn) roundTrip(req *http.Request, p *emulation.Profile) (*http.Response, error) {
	return cc.send(req, p, false)
}

// send sends req on a new stream; with ws, as an RFC 8441 extended
// CONNECT opening a WebSocket (see roundTripWebSocket).
func (cc *h2Conn) send(req *http.Request, p *emulation.Profile, ws bool) (*http.Response, error) {
	ctx := req.Context()
	if req.Method == http.MethodConnect {
		return nil, errors.New("transport: CONNECT over HTTP/2 is not supported")
	}
	cc.mu.Lock()
	if !cc.canTakeLocked() || ws && !cc.extConnect {
		cc.mu.Unlock()
		return nil, errConnUnusable
	}
	cc.reserved++
	if cc.idleTimer != nil {
		cc.idleTimer.Stop()
	}
	cc.mu.Unlock()

	hasBody := !ws && req.Body != nil && req.Body != http.NoBody
	trailers := hasBody && len(req.Trailer) > 0
	regular := cc.t.o.Headers(p, req, true)
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	path := req.URL.RequestURI()
	pseudo := map[string]string{":method": method, ":authority": requestHost(req), ":scheme": "https", ":path": path}
	pseudoOrder := cc.params.pseudo
	if ws {
		// RFC 8441 §4: :method CONNECT, :protocol websocket, and the
		// :scheme and :path a GET would have. Chromium and Firefox both
		// send :protocol after their four request pseudo headers.
		method = http.MethodConnect
		pseudo[":method"] = method
		pseudo[":protocol"] = "websocket"
		pseudoOrder = append(slices.Clone(pseudoOrder), ":protocol")
		regular = slices.DeleteFunc(slices.Clone(regular), func(h emulation.Header) bool {
			return h2WebSocketDropped[strings.ToLower(h.Name)]
		})
	}

	s := &h2Stream{cc: cc, req: req, ws: ws, resc: make(chan *http.Response, 1), wake: make(chan struct{}, 1), done: make(chan struct{})}

	var werr error
	cc.wmu.Lock()
	cc.mu.Lock()
	cc.reserved--
	// The reservation may predate the server's SETTINGS: if they have
	// lowered MAX_CONCURRENT_STREAMS below the streams already open, a
	// HEADERS written after our SETTINGS ACK would be a protocol error.
	// Checked under wmu, so the ACK cannot slip between check and write.
	if cc.closed || cc.goAway || uint32(len(cc.streams)) >= cc.maxStreams {
		cc.mu.Unlock()
		cc.wmu.Unlock()
		return nil, errConnUnusable
	}
	s.id = cc.nextID
	cc.nextID += 2
	prio := cc.headersPriority(p, req)
	if prio != nil && prio.Exclusive {
		prio.DependsOn = cc.exclusiveParentLocked(prio.Weight)
		s.prioWeight = prio.Weight
	}
	s.sendWin = cc.peerInitWin
	// With a per-stream WINDOW_UPDATE (Firefox) the stream's window is the
	// initial window plus its increment.
	s.recvAvail = int64(cc.params.recvWindow) + int64(cc.params.streamWU)
	s.sentEnd = !hasBody && !ws
	cc.streams[s.id] = s
	maxFrame := cc.peerMaxFrame
	cc.mu.Unlock()
	block := cc.hblock[:0]
	if cc.firstBlock {
		cc.firstBlock = false
		if p.H2 != nil && p.H2.TableSizeUpdate {
			cc.henc.announceSize()
		}
	}
	block = cc.henc.beginBlock(block)
	for _, name := range pseudoOrder {
		block = cc.henc.appendField(block, hpack.HeaderField{Name: name, Value: pseudo[name]}, hpackKind(p, name, pseudo[name]))
	}
	for _, h := range regular {
		name := strings.ToLower(h.Name)
		if h2Forbidden[name] || name == "te" && !strings.EqualFold(h.Value, "trailers") {
			continue
		}
		block = cc.henc.appendField(block, hpack.HeaderField{Name: name, Value: h.Value}, hpackKind(p, name, h.Value))
	}
	cc.hblock = block
	werr = cc.writeHeaderBlock(s.id, block, s.sentEnd, maxFrame, prio)
	if werr == nil && cc.params.streamWU > 0 {
		// Firefox raises every request's stream window right after HEADERS.
		werr = cc.fr.WriteWindowUpdate(s.id, cc.params.streamWU)
	}
	if werr == nil {
		werr = cc.bw.Flush()
	}
	cc.wmu.Unlock()
	if werr != nil {
		cc.closeWithError(fmt.Errorf("transport: writing HEADERS to %s: %w", cc.key.addr, werr))
		return nil, retryable(werr)
	}

	var cancelled <-chan struct{}
	if ws {
		// The context governs the handshake only, not the WebSocket.
		cancelled = ctx.Done()
	} else {
		go cc.watchCancel(ctx, s)
	}
	if hasBody {
		go cc.writeBody(s, req.Body, trailers)
	}

	select {
	case resp := <-s.resc:
		return resp, nil
	case <-cancelled:
		cc.cancelStream(s, fmt.Errorf("transport: request canceled: %w", ctx.Err()))
		return nil, fmt.Errorf("transport: %s %s: %w", method, req.URL.Redacted(), ctx.Err())
	case <-s.done:
		select {
		case resp := <-s.resc:
			return resp, nil
		default:
		}
		cc.mu.Lock()
		err := s.bodyErr
		cc.mu.Unlock()
		select {
		case resp := <-s.resc: // delivered while done was being closed
			return resp, nil
		default:
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("transport: %s %s: %w", method, req.URL.Redacted(), ctx.Err())
		}
		if err == nil || err == io.EOF {
			err = errors.New("transport: stream closed before a response")
		}
		return nil, err
	}
}

// headersPriority is the HEADERS priority for req's initiator, if the
// profile has one (emulation.HeadersPriorityFor: a sub-resource the
// profile has no list for takes the priority of the list sent instead).
func (cc *h2Conn) headersPriority(p *emulation.Profile, req *http.Request) *emulation.Priority {
	in, _ := InitiatorFromContext(req.Context())
	if pr, ok := emulation.HeadersPriorityFor(p, in); ok {
		return &pr
	}
	return nil
}

// exclusiveParentLocked is the stream a new stream of the given weight
// depends on in Chromium's HTTP/2 priority tree (net/spdy
// Http2PriorityDependencies): every stream depends exclusively on the most
// recently opened stream still open at its own priority level, else at the
// nearest higher level, else on the root (0). Levels are the weights
// Chromium maps its priorities to, so a larger weight is a higher level.
// A profile's captured dependency names a stream of the capturing
// connection; this one names a stream of this connection. cc.mu held.
func (cc *h2Conn) exclusiveParentLocked(weight uint16) uint32 {
	var parent uint32
	var level uint16
	for id, o := range cc.streams {
		if o.prioWeight == 0 || o.prioWeight < weight || o.removed {
			continue
		}
		switch {
		case parent == 0, o.prioWeight < level, o.prioWeight == level && id > parent:
			parent, level = id, o.prioWeight
		}
	}
	return parent
}

// writeHeaderBlock writes HEADERS (with the PRIORITY flag when pr is set)
// and CONTINUATION frames no larger than maxFrame. cc.wmu held.
func (cc *h2Conn) writeHeaderBlock(id uint32, block []byte, endStream bool, maxFrame uint32, pr *emulation.Priority) error {
	var flags http2.Flags
	var payload []byte
	if endStream {
		flags |= http2.FlagHeadersEndStream
	}
	maxFrame = max(maxFrame, h2DefaultFrameSize) // the smallest legal value
	room := int(maxFrame)
	if pr != nil {
		flags |= http2.FlagHeadersPriority
		dep := pr.DependsOn & 0x7fffffff
		if pr.Exclusive {
			dep |= 1 << 31
		}
		payload = append(payload, byte(dep>>24), byte(dep>>16), byte(dep>>8), byte(dep), byte(pr.Weight-1))
		room -= 5
	}
	first := block
	rest := []byte(nil)
	if len(first) > room {
		first, rest = block[:room], block[room:]
	}
	if len(rest) == 0 {
		flags |= http2.FlagHeadersEndHeaders
	}
	payload = append(payload, first...)
	if err := cc.fr.WriteRawFrame(http2.FrameHeaders, flags, id, payload); err != nil {
		return err
	}
	for len(rest) > 0 {
		chunk := rest
		if len(chunk) > int(maxFrame) {
			chunk = rest[:maxFrame]
		}
		rest = rest[len(chunk):]
		if err := cc.fr.WriteContinuation(id, len(rest) == 0, chunk); err != nil {
			return err
		}
	}
	return nil
}

// watchCancel resets s with CANCEL when ctx ends before the stream does.
func (cc *h2Conn) watchCancel(ctx context.Context, s *h2Stream) {
	if ctx.Done() == nil {
		return
	}
	select {
	case <-ctx.Done():
		cc.cancelStream(s, fmt.Errorf("transport: request canceled: %w", ctx.Err()))
	case <-s.done:
	}
}

// cancelStream sends RST_STREAM(CANCEL) for s (when still open) and fails
// it with err. Credit for unread body bytes goes back to the connection.
func (cc *h2Conn) cancelStream(s *h2Stream, err error) {
	cc.mu.Lock()
	if s.removed {
		s.buf = nil
		cc.mu.Unlock()
		return
	}
	unread := int32(len(s.buf))
	s.buf = nil
	cc.abortStreamLocked(s, err)
	wu := cc.creditLocked(unread)
	cc.mu.Unlock()
	_ = cc.writeFrames(func() error {
		if err := cc.fr.WriteRSTStream(s.id, http2.ErrCodeCancel); err != nil {
			return err
		}
		if wu > 0 {
			return cc.fr.WriteWindowUpdate(0, uint32(wu))
		}
		return nil
	})
}

// creditLocked returns n bytes of connection credit and reports the
// WINDOW_UPDATE increment to send now (0 for none). Like Chromium, the
// window is topped up once half of it has been consumed. cc.mu held.
func (cc *h2Conn) creditLocked(n int32) int32 {
	cc.recvUnacked += n
	if cc.recvUnacked < cc.connRecvTotal/2 || cc.closed {
		return 0
	}
	wu := cc.recvUnacked
	cc.recvUnacked = 0
	cc.recvAvail += int64(wu)
	return wu
}

// writeBody sends the request body as DATA frames within the flow-control
// windows, then END_STREAM (or the trailers).
func (cc *h2Conn) writeBody(s *h2Stream, body io.ReadCloser, trailers bool) {
	defer body.Close()
	buf := make([]byte, h2DefaultFrameSize)
	// Reading one byte ahead tells whether a chunk is the body's last, so
	// END_STREAM goes on the last DATA frame as browsers send it, not on an
	// extra empty one.
	br := bufio.NewReaderSize(body, h2DefaultFrameSize)
	var pending []byte
	eof := false
	for {
		if len(pending) == 0 && !eof {
			n, err := br.Read(buf)
			pending = buf[:n]
			if err == nil && n > 0 {
				_, err = br.Peek(1)
			}
			if err == io.EOF {
				eof = true
			} else if err != nil {
				cc.cancelStream(s, fmt.Errorf("transport: reading request body: %w", err))
				return
			}
		}
		if len(pending) == 0 && eof {
			break
		}
		if len(pending) == 0 {
			continue
		}
		// Wait for window.
		cc.mu.Lock()
		for {
			if s.reset || cc.closed {
				cc.mu.Unlock()
				return
			}
			if s.sendWin > 0 && cc.sendWin > 0 {
				break
			}
			ch := cc.changed
			cc.mu.Unlock()
			<-ch
			cc.mu.Lock()
		}
		n := int32(min(len(pending), int(cc.peerMaxFrame)))
		n = min(n, s.sendWin, cc.sendWin)
		s.sendWin -= n
		cc.sendWin -= n
		cc.mu.Unlock()
		chunk := pending[:n]
		pending = pending[n:]
		last := eof && len(pending) == 0 && !trailers
		if cc.writeFrames(func() error { return cc.fr.WriteData(s.id, last, chunk) }) != nil {
			return
		}
		if last {
			cc.mu.Lock()
			s.sentEnd = true
			cc.maybeFinishLocked(s)
			cc.mu.Unlock()
			return
		}
	}
	// The body ended exactly at a frame boundary (or trailers follow).
	err := cc.writeFrames(func() error {
		if !trailers {
			return cc.fr.WriteData(s.id, true, nil)
		}
		block := cc.henc.beginBlock(cc.hblock[:0])
		for name, vs := range s.req.Trailer {
			for _, v := range vs {
				block = cc.henc.appendField(block, hpack.HeaderField{Name: strings.ToLower(name), Value: v}, 'l')
			}
		}
		cc.hblock = block
		cc.mu.Lock()
		maxFrame := cc.peerMaxFrame
		cc.mu.Unlock()
		return cc.writeHeaderBlock(s.id, block, true, maxFrame, nil)
	})
	if err == nil {
		cc.mu.Lock()
		s.sentEnd = true
		cc.maybeFinishLocked(s)
		cc.mu.Unlock()
	}
}

// hpackKind is the HPACK representation for a field no table entry
// matches: the profile's recorded choice for the name (HPACKIndexing), else
// what both Chromium and Firefox do: :path as a literal without indexing,
// authorization and short cookies never indexed (as x/net marks them
// sensitive), everything else with incremental indexing.
func hpackKind(p *emulation.Profile, name, value string) byte {
	if p.H2 != nil {
		if k := p.H2.HPACKIndexing[name]; k != "" {
			return k[0]
		}
	}
	switch {
	case name == ":path":
		return 'w'
	case name == "authorization" || name == "cookie" && len(value) < 20:
		return 'v'
	}
	return 'l'
}

// appendHPACKInt appends v as an HPACK integer with an n-bit prefix (RFC
// 7541 §5.1), the first byte's high bits set to flags.
func appendHPACKInt(b []byte, n uint, flags byte, v uint64) []byte {
	limit := uint64(1)<<n - 1
	if v < limit {
		return append(b, flags|byte(v))
	}
	b = append(b, flags|byte(limit))
	v -= limit
	for v >= 128 {
		b = append(b, byte(v%128)|0x80)
		v /= 128
	}
	return append(b, byte(v))
}
