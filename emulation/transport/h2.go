package transport

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	firstStream  uint32 // the first request's stream id (odd, >= 1)
	streamWU     uint32 // WINDOW_UPDATE increment on each stream after HEADERS, 0 = none
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
	if p.H2.FirstStreamID%2 == 1 {
		hp.firstStream = p.H2.FirstStreamID
	}
	if p.H2.StreamWindowUpdate <= h2MaxWindow-uint32(hp.recvWindow) {
		hp.streamWU = p.H2.StreamWindowUpdate
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
	wmu        sync.Mutex
	bw         *bufio.Writer
	fr         *http2.Framer
	henc       *hpackEncoder
	hblock     []byte // the header block being written (wmu held)
	firstBlock bool   // no header block written yet (wmu held)

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
	// extConnect: the server's SETTINGS enabled extended CONNECT
	// (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, RFC 8441 §3).
	extConnect bool
	closing    bool
	closed     bool
	err        error
	idleTimer  *time.Timer
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
	// ws: an RFC 8441 WebSocket stream (extended CONNECT): it stays open
	// in both directions after a 2xx response.
	ws bool
	// prioWeight is the weight of an exclusive HEADERS priority the
	// stream was opened with (Chromium's dependency tree), else 0.
	prioWeight uint16
	trailer    http.Header
	done       chan struct{} // closed when the stream leaves the connection
}

func newH2Conn(t *Transport, key poolKey, nc net.Conn, state *tls.ConnectionState, p *emulation.Profile) (*h2Conn, error) {
	params := h2Params(p)
	cc := &h2Conn{
		t: t, key: key, nc: nc, state: state, params: params,
		bw:            bufio.NewWriterSize(nc, 32<<10),
		changed:       make(chan struct{}),
		closedCh:      make(chan struct{}),
		streams:       map[uint32]*h2Stream{},
		nextID:        max(1, params.firstStream),
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
	cc.henc = newHPACKEncoder()
	cc.henc.huffmanAlways = p.H2 != nil && p.H2.HuffmanAlways
	cc.firstBlock = true

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
