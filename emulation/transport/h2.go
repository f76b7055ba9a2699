package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/guanaco-fp/guanaco/emulation"
)

// Defaults of RFC 9113 that apply until the peer's SETTINGS say otherwise.
const (
	h2DefaultWindow    = 65535
	h2DefaultFrameSize = 16384
	h2MaxWindow        = 1<<31 - 1
	// h2InitialMaxStreams is assumed before the server's SETTINGS arrive
	// (Chromium assumes 100 as well).
	h2InitialMaxStreams = 100
	h2DefaultTableSize  = 4096
)

// h2ConnParams are the connection-level values sent in the preface.
type h2ConnParams struct {
	settings     []http2.Setting
	windowUpdate uint32
	priorities   []emulation.Priority
	pseudo       []string
	recvWindow   int32  // our SETTINGS_INITIAL_WINDOW_SIZE
	maxFrame     uint32 // our SETTINGS_MAX_FRAME_SIZE
	tableSize    uint32 // our SETTINGS_HEADER_TABLE_SIZE
	maxHeaderLst uint32 // our SETTINGS_MAX_HEADER_LIST_SIZE, 0 = none
}

// h2Params derives the preface from the profile. A profile without H2
// (the server chose h2 although the profile was captured over HTTP/1.1)
// sends an empty SETTINGS frame, no WINDOW_UPDATE and m,a,s,p order.
func h2Params(p *emulation.Profile) h2ConnParams {
	hp := h2ConnParams{
		pseudo:     []string{":method", ":authority", ":scheme", ":path"},
		recvWindow: h2DefaultWindow, maxFrame: h2DefaultFrameSize, tableSize: h2DefaultTableSize,
		settings: []http2.Setting{},
	}
	if p.H2 == nil {
		return hp
	}
	for _, s := range p.H2.Settings {
		hp.settings = append(hp.settings, http2.Setting{ID: http2.SettingID(s.ID), Val: s.Value})
		switch http2.SettingID(s.ID) {
		case http2.SettingInitialWindowSize:
			if s.Value <= h2MaxWindow {
				hp.recvWindow = int32(s.Value)
			}
		case http2.SettingMaxFrameSize:
			if s.Value >= h2DefaultFrameSize && s.Value <= 1<<24-1 {
				hp.maxFrame = s.Value
			}
		case http2.SettingHeaderTableSize:
			hp.tableSize = s.Value
		case http2.SettingMaxHeaderListSize:
			hp.maxHeaderLst = s.Value
		}
	}
	hp.windowUpdate = p.H2.WindowUpdate
	hp.priorities = p.H2.PriorityFrames
	if len(p.H2.PseudoOrder) == 4 {
		hp.pseudo = p.H2.PseudoOrder
	}
	return hp
}

// h2Conn is one HTTP/2 client connection with a reader goroutine.
type h2Conn struct {
	t      *Transport
	key    poolKey
	nc     net.Conn
	state  *tls.ConnectionState
	params h2ConnParams

	// wmu serialises everything written: frames, the HPACK encoder and
	// stream id allocation (ids must appear on the wire in order).
	wmu  sync.Mutex
	bw   *bufio.Writer
	fr   *http2.Framer
	henc *hpack.Encoder
	hbuf bytes.Buffer

	mu            sync.Mutex
	changed       chan struct{} // closed and replaced on every state change
	closedCh      chan struct{} // closed when the connection is closed
	streams       map[uint32]*h2Stream
	nextID        uint32
	reserved      int // streams admitted but not yet in streams
	maxStreams    uint32
	peerInitWin   int32
	peerMaxFrame  uint32
	sendWin       int32 // connection send window
	recvAvail     int64 // connection receive window left
	recvUnacked   int32 // connection credit consumed and not yet returned
	connRecvTotal int32 // connection receive window size (65535 + WINDOW_UPDATE)
	goAway        bool
	closing       bool
	closed        bool
	err           error
	idleTimer     *time.Timer
}

// h2Stream is one request/response exchange. Fields are guarded by
// h2Conn.mu.
type h2Stream struct {
	cc   *h2Conn
	id   uint32
	req  *http.Request
	resc chan *http.Response // the final response, once
	wake chan struct{}       // body data or end; capacity 1

	sendWin     int32
	recvAvail   int64
	recvUnacked int32
	buf         []byte // received, unread body bytes
	bodyErr     error  // io.EOF after END_STREAM, else the reset reason
	gotResp     bool
	sentEnd     bool
	recvEnd     bool
	reset       bool
	removed     bool
	trailer     http.Header
	done        chan struct{} // closed when the stream leaves the connection
}

func newH2Conn(t *Transport, key poolKey, nc net.Conn, state *tls.ConnectionState, p *emulation.Profile) (*h2Conn, error) {
	params := h2Params(p)
	cc := &h2Conn{
		t: t, key: key, nc: nc, state: state, params: params,
		bw:            bufio.NewWriterSize(nc, 32<<10),
		changed:       make(chan struct{}),
		closedCh:      make(chan struct{}),
		streams:       map[uint32]*h2Stream{},
		nextID:        1,
		maxStreams:    h2InitialMaxStreams,
		peerInitWin:   h2DefaultWindow,
		peerMaxFrame:  h2DefaultFrameSize,
		sendWin:       h2DefaultWindow,
		connRecvTotal: int32(min(int64(h2DefaultWindow)+int64(params.windowUpdate), h2MaxWindow)),
	}
	cc.recvAvail = int64(cc.connRecvTotal)
	// Streams announced in PRIORITY frames are idle placeholders; the first
	// request uses the next odd id after them, as the browser did.
	for _, pr := range params.priorities {
		if pr.StreamID >= cc.nextID {
			cc.nextID = pr.StreamID | 1
			if cc.nextID == pr.StreamID {
				cc.nextID += 2
			}
		}
	}
	cc.fr = http2.NewFramer(cc.bw, bufio.NewReaderSize(nc, 32<<10))
	cc.fr.SetMaxReadFrameSize(params.maxFrame)
	cc.fr.ReadMetaHeaders = hpack.NewDecoder(params.tableSize, nil)
	if params.maxHeaderLst > 0 {
		cc.fr.MaxHeaderListSize = params.maxHeaderLst
	}
	cc.henc = hpack.NewEncoder(&cc.hbuf)

	cc.wmu.Lock()
	_, err := cc.bw.WriteString(http2.ClientPreface)
	if err == nil {
		err = cc.fr.WriteSettings(params.settings...)
	}
	if err == nil && params.windowUpdate > 0 {
		err = cc.fr.WriteWindowUpdate(0, params.windowUpdate)
	}
	for _, pr := range params.priorities {
		if err == nil {
			err = cc.fr.WritePriority(pr.StreamID, http2.PriorityParam{StreamDep: pr.DependsOn, Exclusive: pr.Exclusive, Weight: uint8(pr.Weight - 1)})
		}
	}
	if err == nil {
		err = cc.bw.Flush()
	}
	cc.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("transport: writing HTTP/2 preface to %s: %w", key.addr, err)
	}
	go cc.readLoop()
	return cc, nil
}

// broadcastLocked wakes everyone waiting for a state change. cc.mu held.
func (cc *h2Conn) broadcastLocked() {
	close(cc.changed)
	cc.changed = make(chan struct{})
}

// canTakeNewRequest reports whether a new stream may be opened now.
func (cc *h2Conn) canTakeNewRequest() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.canTakeLocked()
}

func (cc *h2Conn) canTakeLocked() bool {
	return !cc.closed && !cc.goAway && !cc.closing &&
		uint32(len(cc.streams)+cc.reserved) < cc.maxStreams && cc.nextID < h2MaxWindow-2*uint32(cc.reserved+1)
}

// idle reports whether cc has no stream open or admitted.
func (cc *h2Conn) idle() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.streams) == 0 && cc.reserved == 0
}

// closeWhenIdle closes the connection now when it has no streams, else
// after its last stream.
func (cc *h2Conn) closeWhenIdle() {
	cc.mu.Lock()
	cc.closing = true
	idle := len(cc.streams) == 0 && cc.reserved == 0
	cc.mu.Unlock()
	if idle {
		cc.shutdown()
	}
}

// shutdown sends GOAWAY(NO_ERROR) and closes the connection.
func (cc *h2Conn) shutdown() {
	cc.wmu.Lock()
	_ = cc.nc.SetWriteDeadline(time.Now().Add(time.Second))
	if cc.fr.WriteGoAway(0, http2.ErrCodeNo, nil) == nil {
		_ = cc.bw.Flush()
	}
	cc.wmu.Unlock()
	cc.closeWithError(errors.New("transport: HTTP/2 connection closed"))
}

// closeWithError tears the connection down; every open stream fails with
// err (retryable for streams whose HEADERS were never written).
func (cc *h2Conn) closeWithError(err error) {
	cc.mu.Lock()
	if cc.closed {
		cc.mu.Unlock()
		return
	}
	cc.closed = true
	cc.err = err
	if cc.idleTimer != nil {
		cc.idleTimer.Stop()
	}
	for _, s := range cc.streams {
		cc.abortStreamLocked(s, err)
	}
	close(cc.closedCh)
	cc.broadcastLocked()
	cc.mu.Unlock()
	_ = cc.nc.Close()
	cc.t.removeH2(cc.key, cc)
}

// abortStreamLocked ends s with err and removes it. cc.mu held.
func (cc *h2Conn) abortStreamLocked(s *h2Stream, err error) {
	if s.bodyErr == nil || s.bodyErr == io.EOF && !s.recvEnd {
		s.bodyErr = err
	}
	s.reset = true
	cc.removeStreamLocked(s)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// removeStreamLocked takes s off the connection. cc.mu held.
func (cc *h2Conn) removeStreamLocked(s *h2Stream) {
	if s.removed {
		return
	}
	s.removed = true
	delete(cc.streams, s.id)
	close(s.done)
	cc.broadcastLocked()
	if len(cc.streams) == 0 && cc.reserved == 0 && !cc.closed {
		if cc.closing || cc.goAway {
			go cc.shutdown()
			return
		}
		if cc.idleTimer != nil {
			cc.idleTimer.Stop()
		}
		cc.idleTimer = time.AfterFunc(cc.t.o.IdleConnTimeout, cc.closeIfIdle)
	}
}

func (cc *h2Conn) closeIfIdle() {
	cc.mu.Lock()
	idle := len(cc.streams) == 0 && cc.reserved == 0 && !cc.closed
	if idle {
		cc.closing = true
	}
	cc.mu.Unlock()
	if idle {
		cc.t.removeH2(cc.key, cc)
		cc.shutdown()
	}
}

// maybeFinishLocked removes s once both directions have ended.
func (cc *h2Conn) maybeFinishLocked(s *h2Stream) {
	if s.sentEnd && s.recvEnd {
		cc.removeStreamLocked(s)
	}
}

// writeFrames runs fn with the write lock held and flushes; a write error
// closes the connection.
func (cc *h2Conn) writeFrames(fn func() error) error {
	cc.wmu.Lock()
	err := fn()
	if err == nil {
		err = cc.bw.Flush()
	}
	cc.wmu.Unlock()
	if err != nil {
		cc.closeWithError(fmt.Errorf("transport: writing to %s: %w", cc.key.addr, err))
	}
	return err
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
	ctx := req.Context()
	if req.Method == http.MethodConnect {
		return nil, errors.New("transport: CONNECT over HTTP/2 is not supported")
	}
	cc.mu.Lock()
	if !cc.canTakeLocked() {
		cc.mu.Unlock()
		return nil, errConnUnusable
	}
	cc.reserved++
	if cc.idleTimer != nil {
		cc.idleTimer.Stop()
	}
	cc.mu.Unlock()

	hasBody := req.Body != nil && req.Body != http.NoBody
	trailers := hasBody && len(req.Trailer) > 0
	regular := cc.t.o.Headers(p, req, true)
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	path := req.URL.RequestURI()
	pseudo := map[string]string{":method": method, ":authority": requestHost(req), ":scheme": "https", ":path": path}

	s := &h2Stream{cc: cc, req: req, resc: make(chan *http.Response, 1), wake: make(chan struct{}, 1), done: make(chan struct{})}

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
	s.sendWin = cc.peerInitWin
	s.recvAvail = int64(cc.params.recvWindow)
	s.sentEnd = !hasBody
	cc.streams[s.id] = s
	maxFrame := cc.peerMaxFrame
	cc.mu.Unlock()
	cc.hbuf.Reset()
	for _, name := range cc.params.pseudo {
		werr = errors.Join(werr, cc.henc.WriteField(hpack.HeaderField{Name: name, Value: pseudo[name]}))
	}
	for _, h := range regular {
		name := strings.ToLower(h.Name)
		if h2Forbidden[name] || name == "te" && !strings.EqualFold(h.Value, "trailers") {
			continue
		}
		werr = errors.Join(werr, cc.henc.WriteField(hpack.HeaderField{Name: name, Value: h.Value, Sensitive: name == "authorization" || name == "cookie" && len(h.Value) < 20}))
	}
	if werr == nil {
		werr = cc.writeHeaderBlock(s.id, cc.hbuf.Bytes(), !hasBody, maxFrame, cc.headersPriority(p, req))
	}
	if werr == nil {
		werr = cc.bw.Flush()
	}
	cc.wmu.Unlock()
	if werr != nil {
		cc.closeWithError(fmt.Errorf("transport: writing HEADERS to %s: %w", cc.key.addr, werr))
		return nil, retryable(werr)
	}

	go cc.watchCancel(ctx, s)
	if hasBody {
		go cc.writeBody(s, req.Body, trailers)
	}

	select {
	case resp := <-s.resc:
		return resp, nil
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
// profile has one.
func (cc *h2Conn) headersPriority(p *emulation.Profile, req *http.Request) *emulation.Priority {
	if p.H2 == nil {
		return nil
	}
	in, _ := InitiatorFromContext(req.Context())
	if pr, ok := p.H2.HeadersPriority[in]; ok {
		return &pr
	}
	return nil
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
	var pending []byte
	eof := false
	for {
		if len(pending) == 0 && !eof {
			n, err := body.Read(buf)
			pending = buf[:n]
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
		cc.hbuf.Reset()
		for name, vs := range s.req.Trailer {
			for _, v := range vs {
				if err := cc.henc.WriteField(hpack.HeaderField{Name: strings.ToLower(name), Value: v}); err != nil {
					return err
				}
			}
		}
		cc.mu.Lock()
		maxFrame := cc.peerMaxFrame
		cc.mu.Unlock()
		return cc.writeHeaderBlock(s.id, cc.hbuf.Bytes(), true, maxFrame, nil)
	})
	if err == nil {
		cc.mu.Lock()
		s.sentEnd = true
		cc.maybeFinishLocked(s)
		cc.mu.Unlock()
	}
}

// readLoop reads and dispatches frames until the connection fails.
func (cc *h2Conn) readLoop() {
	for {
		f, err := cc.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				cc.mu.Lock()
				s := cc.streams[se.StreamID]
				cc.mu.Unlock()
				if s != nil {
					cc.resetStream(s, se.Code, fmt.Errorf("transport: stream %d: %w", se.StreamID, err))
				}
				continue
			}
			cc.goAwayAndClose(err)
			return
		}
		if err := cc.handleFrame(f); err != nil {
			cc.goAwayAndClose(err)
			return
		}
	}
}

// goAwayAndClose ends the connection after a read or protocol error,
// telling the server why when it is a protocol error.
func (cc *h2Conn) goAwayAndClose(err error) {
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		cc.wmu.Lock()
		_ = cc.nc.SetWriteDeadline(time.Now().Add(time.Second))
		if cc.fr.WriteGoAway(0, http2.ErrCode(ce), nil) == nil {
			_ = cc.bw.Flush()
		}
		cc.wmu.Unlock()
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	cc.closeWithError(fmt.Errorf("transport: HTTP/2 connection to %s: %w", cc.key.addr, err))
}

// resetStream sends RST_STREAM(code) and fails s with err.
func (cc *h2Conn) resetStream(s *h2Stream, code http2.ErrCode, err error) {
	cc.mu.Lock()
	unread := int32(len(s.buf))
	s.buf = nil
	cc.abortStreamLocked(s, err)
	wu := cc.creditLocked(unread)
	cc.mu.Unlock()
	_ = cc.writeFrames(func() error {
		if err := cc.fr.WriteRSTStream(s.id, code); err != nil {
			return err
		}
		if wu > 0 {
			return cc.fr.WriteWindowUpdate(0, uint32(wu))
		}
		return nil
	})
}

func (cc *h2Conn) handleFrame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return cc.handleHeaders(f)
	case *http2.DataFrame:
		return cc.handleData(f)
	case *http2.SettingsFrame:
		return cc.handleSettings(f)
	case *http2.WindowUpdateFrame:
		cc.mu.Lock()
		defer cc.mu.Unlock()
		inc := int64(f.Increment)
		if f.StreamID == 0 {
			if int64(cc.sendWin)+inc > h2MaxWindow {
				return http2.ConnectionError(http2.ErrCodeFlowControl)
			}
			cc.sendWin += int32(inc)
		} else if s := cc.streams[f.StreamID]; s != nil {
			if int64(s.sendWin)+inc > h2MaxWindow {
				cc.mu.Unlock()
				cc.resetStream(s, http2.ErrCodeFlowControl, errors.New("transport: stream send window overflow"))
				cc.mu.Lock()
				return nil
			}
			s.sendWin += int32(inc)
		}
		cc.broadcastLocked()
	case *http2.RSTStreamFrame:
		cc.mu.Lock()
		defer cc.mu.Unlock()
		s := cc.streams[f.StreamID]
		if s == nil {
			return nil
		}
		var err error = http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode}
		if f.ErrCode == http2.ErrCodeRefusedStream && !s.gotResp {
			err = retryable(err)
		}
		if f.ErrCode == http2.ErrCodeNo && s.recvEnd {
			// The server finished its response and needs no more body.
			cc.removeStreamLocked(s)
			return nil
		}
		cc.abortStreamLocked(s, err)
	case *http2.GoAwayFrame:
		cc.mu.Lock()
		cc.goAway = true
		for id, s := range cc.streams {
			if id > f.LastStreamID {
				cc.abortStreamLocked(s, retryable(fmt.Errorf("transport: server sent GOAWAY (%v) before stream %d started", f.ErrCode, id)))
			}
		}
		idle := len(cc.streams) == 0 && cc.reserved == 0
		cc.broadcastLocked()
		cc.mu.Unlock()
		cc.t.removeH2(cc.key, cc)
		if f.ErrCode != http2.ErrCodeNo {
			cc.t.o.Logger.Debug("transport: GOAWAY", "addr", cc.key.addr, "code", f.ErrCode.String(), "debug", string(f.DebugData()))
		}
		if idle {
			go cc.shutdown()
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			data := f.Data
			return cc.writeFrames(func() error { return cc.fr.WritePing(true, data) })
		}
	case *http2.PushPromiseFrame:
		// SETTINGS_ENABLE_PUSH is 0 in every browser profile we build.
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	return nil
}

func (cc *h2Conn) handleSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	var tableSize *uint32
	cc.mu.Lock()
	err := f.ForeachSetting(func(st http2.Setting) error {
		if err := st.Valid(); err != nil {
			return err // out-of-range values are a connection error (RFC 9113 6.5.2)
		}
		switch st.ID {
		case http2.SettingHeaderTableSize:
			v := st.Val
			tableSize = &v
		case http2.SettingInitialWindowSize:
			if st.Val > h2MaxWindow {
				return http2.ConnectionError(http2.ErrCodeFlowControl)
			}
			delta := int32(st.Val) - cc.peerInitWin
			for _, s := range cc.streams {
				s.sendWin += delta
			}
			cc.peerInitWin = int32(st.Val)
		case http2.SettingMaxFrameSize:
			cc.peerMaxFrame = st.Val
		case http2.SettingMaxConcurrentStreams:
			cc.maxStreams = st.Val
		}
		return nil
	})
	cc.broadcastLocked()
	cc.mu.Unlock()
	if err != nil {
		return err
	}
	return cc.writeFrames(func() error {
		if tableSize != nil {
			cc.henc.SetMaxDynamicTableSizeLimit(*tableSize)
		}
		return cc.fr.WriteSettingsAck()
	})
}

func (cc *h2Conn) handleHeaders(f *http2.MetaHeadersFrame) error {
	cc.mu.Lock()
	s := cc.streams[f.StreamID]
	if s == nil {
		cc.mu.Unlock()
		return nil // a stream we reset
	}
	if s.gotResp {
		// Trailers: must end the stream.
		if !f.StreamEnded() {
			cc.mu.Unlock()
			cc.resetStream(s, http2.ErrCodeProtocol, errors.New("transport: trailers without END_STREAM"))
			return nil
		}
		s.trailer = http.Header{}
		for _, hf := range f.RegularFields() {
			s.trailer.Add(textproto.CanonicalMIMEHeaderKey(hf.Name), hf.Value)
		}
		cc.endRecvLocked(s)
		cc.mu.Unlock()
		return nil
	}
	status := f.PseudoValue("status")
	code, err := strconv.Atoi(status)
	if err != nil || code < 100 || code > 999 {
		cc.mu.Unlock()
		cc.resetStream(s, http2.ErrCodeProtocol, fmt.Errorf("transport: malformed :status %q", status))
		return nil
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		cc.mu.Unlock()
		return nil // interim response
	}
	s.gotResp = true
	h := make(http.Header, len(f.Fields))
	for _, hf := range f.RegularFields() {
		h.Add(textproto.CanonicalMIMEHeaderKey(hf.Name), hf.Value)
	}
	resp := &http.Response{
		Status:        status + " " + http.StatusText(code),
		StatusCode:    code,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        h,
		ContentLength: -1,
		Request:       s.req,
		TLS:           cc.state,
	}
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
		}
	}
	for _, v := range h.Values("Trailer") {
		for _, k := range strings.Split(v, ",") {
			if k = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)); k != "" {
				if resp.Trailer == nil {
					resp.Trailer = http.Header{}
				}
				resp.Trailer[k] = nil
			}
		}
	}
	ended := f.StreamEnded()
	if ended {
		resp.ContentLength = 0
	}
	resp.Body = &h2Body{s: s, resp: resp}
	// Hand the response over before ending the receive side: ending it
	// may finish the stream and close s.done, and RoundTrip must find the
	// response when it wakes on done.
	s.resc <- resp
	if ended {
		cc.endRecvLocked(s)
	}
	cc.mu.Unlock()
	return nil
}

// endRecvLocked marks the receive side done. cc.mu held.
func (cc *h2Conn) endRecvLocked(s *h2Stream) {
	s.recvEnd = true
	if s.bodyErr == nil {
		s.bodyErr = io.EOF
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	cc.maybeFinishLocked(s)
}

func (cc *h2Conn) handleData(f *http2.DataFrame) error {
	n := int64(f.Length)
	data := f.Data()
	pad := int32(n) - int32(len(data))
	cc.mu.Lock()
	if n > cc.recvAvail {
		cc.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	cc.recvAvail -= n
	s := cc.streams[f.StreamID]
	if s == nil || !s.gotResp || s.recvEnd {
		// Data for a stream we reset (or a protocol slip): return the
		// connection credit at once.
		wu := cc.creditLocked(int32(n))
		cc.mu.Unlock()
		if s != nil && (!s.gotResp || s.recvEnd) {
			cc.resetStream(s, http2.ErrCodeStreamClosed, errors.New("transport: DATA outside a response body"))
		}
		return cc.sendWindowUpdates(wu, 0, 0)
	}
	if n > s.recvAvail {
		cc.mu.Unlock()
		cc.resetStream(s, http2.ErrCodeFlowControl, errors.New("transport: server overran the stream window"))
		return nil
	}
	s.recvAvail -= n
	s.buf = append(s.buf, data...)
	var wu, swu int32
	if pad > 0 {
		wu = cc.creditLocked(pad)
		swu = s.creditLocked(pad)
	}
	if f.StreamEnded() {
		swu = 0
		cc.endRecvLocked(s)
	} else {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	cc.mu.Unlock()
	return cc.sendWindowUpdates(wu, s.id, swu)
}

// creditLocked returns n bytes of stream credit and reports the
// WINDOW_UPDATE increment to send now (half-window rule). cc.mu held.
func (s *h2Stream) creditLocked(n int32) int32 {
	if s.recvEnd || s.removed {
		return 0
	}
	s.recvUnacked += n
	if s.recvUnacked < s.cc.params.recvWindow/2 {
		return 0
	}
	wu := s.recvUnacked
	s.recvUnacked = 0
	s.recvAvail += int64(wu)
	return wu
}

// sendWindowUpdates writes the connection and stream WINDOW_UPDATEs due.
func (cc *h2Conn) sendWindowUpdates(connInc int32, id uint32, streamInc int32) error {
	if connInc <= 0 && streamInc <= 0 {
		return nil
	}
	return cc.writeFrames(func() error {
		if streamInc > 0 {
			if err := cc.fr.WriteWindowUpdate(id, uint32(streamInc)); err != nil {
				return err
			}
		}
		if connInc > 0 {
			return cc.fr.WriteWindowUpdate(0, uint32(connInc))
		}
		return nil
	})
}

// h2Body is a response body; reading returns flow-control credit.
type h2Body struct {
	s      *h2Stream
	resp   *http.Response
	closed bool
}

var _ io.ReadCloser = (*h2Body)(nil)

// Read returns buffered body bytes, blocking until data, the end of the
// stream or a reset arrives. At EOF the response's Trailer is filled.
func (b *h2Body) Read(p []byte) (int, error) {
	s := b.s
	cc := s.cc
	for {
		cc.mu.Lock()
		if b.closed {
			cc.mu.Unlock()
			return 0, errors.New("transport: read on closed response body")
		}
		if len(s.buf) > 0 {
			n := copy(p, s.buf)
			s.buf = s.buf[n:]
			if len(s.buf) == 0 {
				s.buf = nil
			}
			wu := cc.creditLocked(int32(n))
			swu := s.creditLocked(int32(n))
			cc.mu.Unlock()
			_ = cc.sendWindowUpdates(wu, s.id, swu)
			return n, nil
		}
		if err := s.bodyErr; err != nil {
			if err == io.EOF && s.trailer != nil {
				if b.resp.Trailer == nil {
					b.resp.Trailer = http.Header{}
				}
				for k, v := range s.trailer {
					b.resp.Trailer[k] = v
				}
				s.trailer = nil
			}
			cc.mu.Unlock()
			return 0, err
		}
		cc.mu.Unlock()
		<-s.wake
	}
}

// Close ends the exchange; an unfinished stream is reset with CANCEL.
func (b *h2Body) Close() error {
	s := b.s
	cc := s.cc
	cc.mu.Lock()
	if b.closed {
		cc.mu.Unlock()
		return nil
	}
	b.closed = true
	finished := s.recvEnd
	unread := int32(len(s.buf))
	s.buf = nil
	var wu int32
	if finished {
		wu = cc.creditLocked(unread)
	}
	cc.mu.Unlock()
	if !finished {
		cc.cancelStream(s, errors.New("transport: response body closed"))
		return nil
	}
	_ = cc.sendWindowUpdates(wu, 0, 0)
	return nil
}
