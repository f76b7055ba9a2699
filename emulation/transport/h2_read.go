package transport

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
)

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
		case http2.SettingEnableConnectProtocol:
			// RFC 8441 §3: once 1, a server must not send 0.
			if cc.extConnect && st.Val == 0 {
				return http2.ConnectionError(http2.ErrCodeProtocol)
			}
			cc.extConnect = st.Val == 1
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
			cc.henc.setMaxSize(min(*tableSize, h2DefaultTableSize))
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
	if s.ws && code >= 200 && code < 300 && !ended {
		resp.Body = &h2WebSocket{s: s}
	} else {
		resp.Body = &h2Body{s: s, resp: resp}
	}
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
// takeLocked moves buffered DATA bytes into p and returns how many, with
// the connection and stream window credit to send back for them (see
// sendWindowUpdates; send it after releasing cc.mu). Called with cc.mu
// held and s.buf non-empty.
func (s *h2Stream) takeLocked(p []byte) (n int, connInc, streamInc int32) {
	n = copy(p, s.buf)
	s.buf = s.buf[n:]
	if len(s.buf) == 0 {
		s.buf = nil
	}
	return n, s.cc.creditLocked(int32(n)), s.creditLocked(int32(n))
}

// WINDOW_UPDATE increment to send now (half-window rule). cc.mu held.
func (s *h2Stream) creditLocked(n int32) int32 {
	if s.recvEnd || s.removed {
		return 0
	}
	s.recvUnacked += n
	if s.recvUnacked < (s.cc.params.recvWindow+int32(s.cc.params.streamWU))/2 {
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
			n, wu, swu := s.takeLocked(p)
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
	// A refused WebSocket stream is still open on our side: reset it.
	finished := s.recvEnd && !(s.ws && !s.sentEnd)
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
