package fingerprint

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http2/hpack"
)

// H2ClientPreface is the fixed string that starts every HTTP/2 connection
// from the client (RFC 9113 §3.4).
const H2ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// HTTP/2 frame types (RFC 9113 §6).
const (
	H2FrameData         uint8 = 0x0
	H2FrameHeaders      uint8 = 0x1
	H2FramePriority     uint8 = 0x2
	H2FrameRSTStream    uint8 = 0x3
	H2FrameSettings     uint8 = 0x4
	H2FramePushPromise  uint8 = 0x5
	H2FramePing         uint8 = 0x6
	H2FrameGoAway       uint8 = 0x7
	H2FrameWindowUpdate uint8 = 0x8
	H2FrameContinuation uint8 = 0x9
)

// HTTP/2 frame flags used by the client frames parsed here.
const (
	H2FlagEndStream  uint8 = 0x1 // DATA, HEADERS
	H2FlagAck        uint8 = 0x1 // SETTINGS, PING
	H2FlagEndHeaders uint8 = 0x4 // HEADERS, CONTINUATION
	H2FlagPadded     uint8 = 0x8 // DATA, HEADERS
	H2FlagPriority   uint8 = 0x20
)

// HTTP/2 SETTINGS identifiers (RFC 9113 §6.5.2, RFC 8441, RFC 9218).
const (
	H2SettingHeaderTableSize       uint16 = 0x1
	H2SettingEnablePush            uint16 = 0x2
	H2SettingMaxConcurrentStreams  uint16 = 0x3
	H2SettingInitialWindowSize     uint16 = 0x4
	H2SettingMaxFrameSize          uint16 = 0x5
	H2SettingMaxHeaderListSize     uint16 = 0x6
	H2SettingEnableConnectProtocol uint16 = 0x8
	H2SettingNoRFC7540Priorities   uint16 = 0x9
)

// H2SettingName returns the RFC name of a SETTINGS identifier, or
// "UNKNOWN_SETTING_<id>".
func H2SettingName(id uint16) string {
	switch id {
	case H2SettingHeaderTableSize:
		return "HEADER_TABLE_SIZE"
	case H2SettingEnablePush:
		return "ENABLE_PUSH"
	case H2SettingMaxConcurrentStreams:
		return "MAX_CONCURRENT_STREAMS"
	case H2SettingInitialWindowSize:
		return "INITIAL_WINDOW_SIZE"
	case H2SettingMaxFrameSize:
		return "MAX_FRAME_SIZE"
	case H2SettingMaxHeaderListSize:
		return "MAX_HEADER_LIST_SIZE"
	case H2SettingEnableConnectProtocol:
		return "ENABLE_CONNECT_PROTOCOL"
	case H2SettingNoRFC7540Priorities:
		return "NO_RFC7540_PRIORITIES"
	}
	return "UNKNOWN_SETTING_" + strconv.Itoa(int(id))
}

// H2Setting is one SETTINGS parameter. Its JSON form is the ordered pair
// [id, value], so a []H2Setting keeps wire order.
type H2Setting struct {
	ID    uint16 `json:"id"`
	Value uint32 `json:"value"`
}

// MarshalJSON encodes s as [ID, Value].
func (s H2Setting) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal([2]uint32{uint32(s.ID), s.Value})
	if err != nil {
		return nil, fmt.Errorf("fingerprint: encoding setting %d: %w", s.ID, err)
	}
	return b, nil
}

// UnmarshalJSON decodes the [id, value] form; an id above 65535 is an error.
func (s *H2Setting) UnmarshalJSON(b []byte) error {
	var pair []uint32
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("fingerprint: decoding setting pair: %w", err)
	}
	if len(pair) != 2 {
		return fmt.Errorf("fingerprint: decoding setting pair: want [id, value], got %d elements", len(pair))
	}
	if pair[0] > 0xffff {
		return fmt.Errorf("fingerprint: decoding setting pair: id %d out of range", pair[0])
	}
	s.ID, s.Value = uint16(pair[0]), pair[1]
	return nil
}

// H2Priority is a priority: from a PRIORITY frame, or the priority fields of
// a HEADERS frame. Weight is the real weight, 1 to 256 (the wire field + 1).
type H2Priority struct {
	StreamID  uint32 `json:"stream_id"`
	Exclusive bool   `json:"exclusive"`
	DependsOn uint32 `json:"depends_on"`
	Weight    uint16 `json:"weight"`
}

// H2WindowUpdate is one WINDOW_UPDATE frame; StreamID 0 is the connection.
type H2WindowUpdate struct {
	StreamID  uint32 `json:"stream_id"`
	Increment uint32 `json:"increment"`
}

// H2RSTStream is one RST_STREAM frame.
type H2RSTStream struct {
	StreamID uint32 `json:"stream_id"`
	ErrCode  uint32 `json:"error_code"`
}

// H2GoAway is a GOAWAY frame. DebugData keeps at most the first 256 bytes.
type H2GoAway struct {
	LastStreamID uint32 `json:"last_stream_id"`
	ErrCode      uint32 `json:"error_code"`
	DebugData    []byte `json:"debug_data,omitempty"`
}

// h2MaxGoAwayDebug bounds the GOAWAY debug data kept.
const h2MaxGoAwayDebug = 256

// H2Request is one request header block: a HEADERS frame and its
// CONTINUATION frames, decoded.
type H2Request struct {
	StreamID uint32 `json:"stream_id"`
	// Pseudo holds the pseudo-header fields (":method", ...) in the order
	// sent; Headers the regular fields in the order sent. A block that
	// interleaves them is malformed HTTP/2 but is recorded as sent within
	// each list.
	Pseudo  []Header `json:"pseudo"`
	Headers []Header `json:"headers"`
	// Priority holds the HEADERS frame's priority fields when its PRIORITY
	// flag was set (StreamID is the request's stream).
	Priority *H2Priority `json:"priority,omitempty"`
	// Flags are the HEADERS frame's flags as sent.
	Flags     uint8 `json:"flags"`
	EndStream bool  `json:"end_stream"`
	// PadLength is the HEADERS frame's padding when PADDED was set.
	Padded    bool  `json:"padded"`
	PadLength uint8 `json:"pad_length,omitempty"`
	// Continuations is the number of CONTINUATION frames in the block.
	Continuations int `json:"continuations"`
	// Trailers is a later header block on the same stream, filled in the
	// copy kept by the H2Stream (see H2Stream.Request and Snapshot).
	Trailers []Header `json:"trailers,omitempty"`
	// HPACK is the representation of each entry of the block, in order
	// (HPACKCodes); empty for a block over 64 KiB.
	HPACK []string `json:"hpack,omitempty"`
	// WindowUpdates are the increments of the WINDOW_UPDATE frames the
	// client sent on this stream, in order (at most H2MaxStreamFrames),
	// filled in the copy kept by the H2Stream like Trailers. Firefox sends
	// one right after a request's HEADERS; Chromium sends none.
	WindowUpdates []uint32 `json:"window_updates,omitempty"`
	// Data are the stream's DATA frames (request body framing), in order,
	// at most H2MaxStreamFrames, filled in like WindowUpdates.
	Data []H2DataFrame `json:"data,omitempty"`
}

// H2DataFrame is one DATA frame of a request body: its payload length
// (padding excluded) and whether it carried END_STREAM.
type H2DataFrame struct {
	Length    uint32 `json:"length"`
	EndStream bool   `json:"end_stream,omitempty"`
}

// H2MaxStreamFrames bounds the WINDOW_UPDATE and DATA frames kept per
// request; later ones are counted only.
const H2MaxStreamFrames = 16

// Get returns the value of the first field (pseudo-headers included) named
// name, compared ignoring ASCII case, or "".
func (r *H2Request) Get(name string) string {
	for _, list := range [2][]Header{r.Pseudo, r.Headers} {
		for _, h := range list {
			if strings.EqualFold(h.Name, name) {
				return h.Value
			}
		}
	}
	return ""
}

// HeaderOrder returns the header-order fingerprint: pseudo-headers first as
// sent, then the regular header names as sent.
func (r *H2Request) HeaderOrder() HeaderOrderFP {
	return headerOrderOfHeaders(r.Pseudo, r.Headers)
}

// PseudoOrder returns the pseudo-header names in the order sent.
func (r *H2Request) PseudoOrder() []string {
	names := make([]string, len(r.Pseudo))
	for i, h := range r.Pseudo {
		names[i] = h.Name
	}
	return names
}

// clone returns a deep copy of r's slices and pointers.
func (r H2Request) clone() H2Request {
	r.Pseudo = cloneSlice(r.Pseudo)
	r.Headers = cloneSlice(r.Headers)
	r.Trailers = cloneSlice(r.Trailers)
	r.HPACK = cloneSlice(r.HPACK)
	r.WindowUpdates = cloneSlice(r.WindowUpdates)
	r.Data = cloneSlice(r.Data)
	if r.Priority != nil {
		p := *r.Priority
		r.Priority = &p
	}
	return r
}

// H2Counters counts client frames by kind.
type H2Counters struct {
	Frames         int64 `json:"frames"`
	DataFrames     int64 `json:"data_frames"`
	DataBytes      int64 `json:"data_bytes"` // DATA payload without padding
	HeaderBlocks   int64 `json:"header_blocks"`
	TrailerBlocks  int64 `json:"trailer_blocks"`
	SettingsFrames int64 `json:"settings_frames"`
	SettingsAcks   int64 `json:"settings_acks"`
	WindowUpdates  int64 `json:"window_updates"`
	PriorityFrames int64 `json:"priority_frames"`
	RSTStreams     int64 `json:"rst_streams"`
	Pings          int64 `json:"pings"`
	GoAways        int64 `json:"goaways"`
	UnknownFrames  int64 `json:"unknown_frames"`
	// OversizedBlocks counts header blocks over MaxHeaderListSize: decoded
	// to keep HPACK in sync, then dropped (no request is emitted).
	OversizedBlocks int64 `json:"oversized_blocks"`
	// Dropped counts records (settings, priorities, window updates,
	// RST_STREAMs, later SETTINGS frames) not kept because their list was
	// full, and requests beyond H2Config.MaxRequests.
	Dropped int64 `json:"dropped"`
}

// H2Conn is a snapshot of what an H2Stream has parsed so far.
type H2Conn struct {
	// Settings is the first SETTINGS frame (without ACK), in wire order,
	// unknown identifiers kept.
	Settings []H2Setting `json:"settings"`
	// LaterSettings holds each later non-ACK SETTINGS frame.
	LaterSettings [][]H2Setting `json:"later_settings,omitempty"`
	// WindowUpdate is the increment of the first WINDOW_UPDATE on stream 0
	// sent before the first HEADERS frame, 0 if none.
	WindowUpdate uint32 `json:"window_update"`
	// WindowUpdates holds every WINDOW_UPDATE frame, any stream, in order.
	WindowUpdates []H2WindowUpdate `json:"window_updates,omitempty"`
	// Priorities holds the PRIORITY frames sent before the first HEADERS
	// frame; LaterPriorities those sent after it.
	Priorities      []H2Priority `json:"priorities,omitempty"`
	LaterPriorities []H2Priority `json:"later_priorities,omitempty"`
	// Requests holds the first H2Config.MaxRequests request header blocks;
	// RequestsSeen counts all of them.
	Requests     []H2Request   `json:"requests"`
	RequestsSeen int           `json:"requests_seen"`
	RSTStreams   []H2RSTStream `json:"rst_streams,omitempty"`
	GoAway       *H2GoAway     `json:"goaway,omitempty"`
	Counters     H2Counters    `json:"counters"`
	// Consumed is the number of stream bytes processed (preface included);
	// after an error, the offset of the frame that failed.
	// Ignored is, once parsing has stopped, the number of bytes written but
	// not consumed (Consumed + Ignored is then the total written); 0 while
	// parsing goes on.
	Consumed int64 `json:"consumed"`
	Ignored  int64 `json:"ignored"`
	// Err is the *ParseError that stopped parsing (offsets are stream
	// offsets from the first preface byte), nil while parsing goes on.
	Err error `json:"-"`
}

// Akamai returns the Akamai HTTP/2 fingerprint of the connection: its first
// SETTINGS frame, connection WINDOW_UPDATE, PRIORITY frames before the first
// HEADERS, and the pseudo-header order of the first request.
func (c *H2Conn) Akamai() AkamaiFP {
	var pseudo []string
	if len(c.Requests) > 0 {
		pseudo = c.Requests[0].PseudoOrder()
	}
	return AkamaiString(c.Settings, c.WindowUpdate, c.Priorities, pseudo)
}

func (c *H2Conn) clone() H2Conn {
	out := *c
	out.Settings = cloneSlice(c.Settings)
	if c.LaterSettings != nil {
		out.LaterSettings = make([][]H2Setting, len(c.LaterSettings))
		for i, s := range c.LaterSettings {
			out.LaterSettings[i] = cloneSlice(s)
		}
	}
	out.WindowUpdates = cloneSlice(c.WindowUpdates)
	out.Priorities = cloneSlice(c.Priorities)
	out.LaterPriorities = cloneSlice(c.LaterPriorities)
	out.RSTStreams = cloneSlice(c.RSTStreams)
	out.Requests = make([]H2Request, len(c.Requests))
	for i, r := range c.Requests {
		out.Requests[i] = r.clone()
	}
	if c.GoAway != nil {
		g := *c.GoAway
		g.DebugData = cloneSlice(c.GoAway.DebugData)
		out.GoAway = &g
	}
	return out
}

// cloneSlice copies s, keeping nil and empty apart.
func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// Defaults and caps for H2Config.
const (
	DefaultH2MaxFrameSize      = 16384
	MaxH2FrameSize             = 1<<24 - 1
	DefaultH2HeaderTableSize   = 4096
	DefaultH2MaxHeaderListSize = 64 << 10
	DefaultH2MaxRequests       = 100
	DefaultH2MaxContinuations  = 32
	DefaultH2MaxKept           = 256
)

// H2Config configures an H2Stream. Zero fields take the defaults.
type H2Config struct {
	// MaxFrameSize is the SETTINGS_MAX_FRAME_SIZE the server advertised:
	// a larger client frame is an error. Default 16384; values are clamped
	// to [16384, 2^24-1]. (golang.org/x/net/http2's server advertises its
	// MaxReadFrameSize, 1 MiB by default.)
	MaxFrameSize uint32
	// HeaderTableSize is the SETTINGS_HEADER_TABLE_SIZE the server
	// advertised, which bounds the client's HPACK dynamic table. Default
	// 4096.
	HeaderTableSize uint32
	// MaxHeaderListSize bounds one decoded header block, counted as in
	// RFC 9113 §6.5.2 (name + value + 32 per field). Default 64 KiB. The
	// server should advertise the same or a smaller
	// SETTINGS_MAX_HEADER_LIST_SIZE.
	MaxHeaderListSize uint32
	// MaxRequests bounds the requests kept in the snapshot (later ones are
	// still parsed, counted and emitted). Default 100.
	MaxRequests int
	// MaxContinuations bounds the CONTINUATION frames in one header block.
	// Default 32.
	MaxContinuations int
	// MaxKept bounds each list of frame records in the snapshot and the
	// settings kept per SETTINGS frame. Default 256.
	MaxKept int
	// OnRequest, if set, is called with each request header block as soon
	// as it is complete, in stream order. It runs synchronously inside
	// Write on the writer's goroutine, so it must be quick and must not
	// block; it may call the H2Stream's read methods. It must not modify
	// the slices in the request, which the stream's snapshot shares.
	OnRequest func(req H2Request)
	// OnTrailers, if set, is called for each trailer block (a later header
	// block on a stream that already had one), under the same rules.
	OnTrailers func(streamID uint32, trailers []Header)
}

func (c H2Config) withDefaults() H2Config {
	switch {
	case c.MaxFrameSize == 0:
		c.MaxFrameSize = DefaultH2MaxFrameSize
	case c.MaxFrameSize < DefaultH2MaxFrameSize:
		c.MaxFrameSize = DefaultH2MaxFrameSize
	case c.MaxFrameSize > MaxH2FrameSize:
		c.MaxFrameSize = MaxH2FrameSize
	}
	if c.HeaderTableSize == 0 {
		c.HeaderTableSize = DefaultH2HeaderTableSize
	}
	if c.MaxHeaderListSize == 0 {
		c.MaxHeaderListSize = DefaultH2MaxHeaderListSize
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = DefaultH2MaxRequests
	}
	if c.MaxContinuations <= 0 {
		c.MaxContinuations = DefaultH2MaxContinuations
	}
	if c.MaxKept <= 0 {
		c.MaxKept = DefaultH2MaxKept
	}
	return c
}

// H2Stream parses the client-to-server byte stream of one HTTP/2 connection
// incrementally, starting with the connection preface. It reads frame
// headers and payloads itself, decodes header blocks with one
// per-connection HPACK decoder, and records SETTINGS, WINDOW_UPDATE,
// PRIORITY, RST_STREAM, PING, GOAWAY and header blocks; DATA is counted,
// never stored. Payloads are processed as they arrive, so memory stays
// bounded by the header-list limit and the kept-record limits, whatever
// frame size the server allows.
//
// The first violation of framing, HPACK or a limit stops parsing: Snapshot
// reports it in Err and later bytes are ignored. Write never returns an
// error, so an H2Stream can sit behind an io.TeeReader on a live connection.
//
// Write may be called from one goroutine only; Snapshot, Akamai, Request
// and Err may be called concurrently from any goroutine.
type H2Stream struct {
	cfg H2Config
	dec *hpack.Decoder

	mu      sync.Mutex
	conn    H2Conn
	written int64 // bytes passed to Write

	// The fields below are only used by the writer goroutine, under mu.
	stopped    bool
	prefaceN   int    // preface bytes matched so far
	off        int64  // stream offset of the next byte
	sawFrame   bool   // a frame followed the preface
	sawSetting bool   // a non-ACK SETTINGS frame was seen
	sawHeaders bool   // a HEADERS frame was seen
	sawConnWU  bool   // WindowUpdate was set
	maxStream  uint32 // highest stream id that opened a request

	// Current frame.
	hdr      [9]byte
	hdrN     int
	typ      uint8
	flags    uint8
	stream   uint32
	length   uint32
	pos      uint32 // payload bytes consumed
	frameOff int64  // stream offset of the frame header
	scratch  [8]byte
	scratchN int
	prelude  uint32 // HEADERS/DATA bytes before the block fragment or data
	padLen   uint32
	// settingsList is where this SETTINGS frame's entries go: 0 none (ACK
	// or list full), 1 Settings, 2 the last LaterSettings entry.
	settingsList int

	// Current header block.
	inBlock   bool
	blockStrm uint32
	blockReq  H2Request
	// block holds the current header block's bytes for HPACKCodes;
	// blockOver: it grew past maxHPACKBlock and is not kept.
	block      []byte
	blockOver  bool
	blockTrail bool
	fields     []Header
	listSize   uint64
	overflow   bool
}

// NewH2Stream returns a parser positioned before the connection preface.
func NewH2Stream(cfg H2Config) *H2Stream {
	s := &H2Stream{cfg: cfg.withDefaults()}
	s.dec = hpack.NewDecoder(s.cfg.HeaderTableSize, s.emitField)
	s.dec.SetMaxStringLength(int(s.cfg.MaxHeaderListSize))
	s.conn.Requests = []H2Request{}
	return s
}

// Snapshot returns a deep copy of everything parsed so far.
func (s *H2Stream) Snapshot() H2Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conn.clone()
	if s.stopped {
		c.Ignored = s.written - c.Consumed
	}
	return c
}

// Akamai returns the Akamai fingerprint of what was parsed so far.
func (s *H2Stream) Akamai() AkamaiFP {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.Akamai()
}

// Err returns the error that stopped parsing, or nil.
func (s *H2Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.Err
}

// Request returns a copy of the kept request on streamID, with its trailers
// if they have arrived.
func (s *H2Stream) Request(streamID uint32) (H2Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.findRequest(streamID); i >= 0 {
		return s.conn.Requests[i].clone(), true
	}
	return H2Request{}, false
}

func (s *H2Stream) findRequest(streamID uint32) int {
	// Stream ids increase, so the list is sorted.
	reqs := s.conn.Requests
	lo, hi := 0, len(reqs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if reqs[m].StreamID < streamID {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(reqs) && reqs[lo].StreamID == streamID {
		return lo
	}
	return -1
}

// h2Event is a completed header block to hand to a callback.
type h2Event struct {
	req      *H2Request
	trailers []Header
	stream   uint32
}

// Write feeds the next bytes the client sent. It always returns len(p), nil.
func (s *H2Stream) Write(p []byte) (int, error) {
	n := len(p)
	s.mu.Lock()
	s.written += int64(n)
	s.mu.Unlock()
	for len(p) > 0 {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			break
		}
		var ev *h2Event
		p, ev = s.step(p)
		s.mu.Unlock()
		if ev != nil {
			s.deliver(ev)
		}
	}
	return n, nil
}

func (s *H2Stream) deliver(ev *h2Event) {
	switch {
	case ev.req != nil && s.cfg.OnRequest != nil:
		s.cfg.OnRequest(*ev.req)
	case ev.req == nil && s.cfg.OnTrailers != nil:
		s.cfg.OnTrailers(ev.stream, ev.trailers)
	}
}

func (s *H2Stream) consume(n int) {
	s.off += int64(n)
	s.conn.Consumed += int64(n)
}

// fail stops parsing with perr, whose offset is a stream offset. Consumed
// is set back to the start of the frame that failed, so it does not depend
// on how the frame's bytes were split across writes.
func (s *H2Stream) fail(perr *ParseError) {
	if s.prefaceN == len(H2ClientPreface) {
		s.conn.Consumed = s.frameOff
	}
	s.stopped = true
	s.conn.Err = perr
	s.fields = nil
}

// step consumes a prefix of p and returns the rest and, when a header block
// was completed, the event to deliver.
func (s *H2Stream) step(p []byte) ([]byte, *h2Event) {
	if s.prefaceN < len(H2ClientPreface) {
		for len(p) > 0 && s.prefaceN < len(H2ClientPreface) {
			if p[0] != H2ClientPreface[s.prefaceN] {
				s.fail(errAt(CodeBadPreface, int(s.off), "http2: byte 0x%02x does not match the client preface", p[0]))
				return p, nil
			}
			s.prefaceN++
			s.consume(1)
			p = p[1:]
		}
		return p, nil
	}
	if s.hdrN < len(s.hdr) {
		k := copy(s.hdr[s.hdrN:], p)
		s.hdrN += k
		s.consume(k)
		p = p[k:]
		if s.hdrN < len(s.hdr) {
			return p, nil
		}
		if perr := s.beginFrame(); perr != nil {
			s.fail(perr)
			return p, nil
		}
		if s.length == 0 {
			return p, s.endFrame()
		}
		return p, nil
	}
	k := s.length - s.pos
	if uint64(len(p)) < uint64(k) {
		k = uint32(len(p))
	}
	if perr := s.payload(p[:k]); perr != nil {
		s.fail(perr)
		return p, nil
	}
	s.consume(int(k))
	p = p[k:]
	if s.pos == s.length {
		return p, s.endFrame()
	}
	return p, nil
}

// beginFrame validates a complete frame header.
func (s *H2Stream) beginFrame() *ParseError {
	h := s.hdr[:]
	s.length = uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
	s.typ, s.flags = h[3], h[4]
	s.stream = binary.BigEndian.Uint32(h[5:]) & (1<<31 - 1)
	s.pos, s.scratchN, s.prelude, s.padLen, s.settingsList = 0, 0, 0, 0, 0
	s.frameOff = s.off - 9
	s.conn.Counters.Frames++
	at := int(s.frameOff)

	if s.length > s.cfg.MaxFrameSize {
		return errAt(CodeTooLarge, at, "http2: %s frame of %d bytes exceeds the maximum frame size %d", h2FrameName(s.typ), s.length, s.cfg.MaxFrameSize)
	}
	if s.inBlock && (s.typ != H2FrameContinuation || s.stream != s.blockStrm) {
		return errAt(CodeProtocol, at, "http2: %s frame on stream %d while a header block on stream %d is open", h2FrameName(s.typ), s.stream, s.blockStrm)
	}
	if !s.sawFrame {
		s.sawFrame = true
		if s.typ != H2FrameSettings {
			return errAt(CodeProtocol, at, "http2: first frame is %s, not SETTINGS", h2FrameName(s.typ))
		}
	}
	switch s.typ {
	case H2FrameData:
		if s.stream == 0 {
			return errAt(CodeProtocol, at, "http2: DATA frame on stream 0")
		}
		if s.flags&H2FlagPadded != 0 {
			s.prelude = 1
		}
	case H2FrameHeaders:
		if s.stream == 0 || s.stream%2 == 0 {
			return errAt(CodeProtocol, at, "http2: HEADERS frame on stream %d", s.stream)
		}
		if s.flags&H2FlagPadded != 0 {
			s.prelude++
		}
		if s.flags&H2FlagPriority != 0 {
			s.prelude += 5
		}
	case H2FramePriority:
		if s.stream == 0 {
			return errAt(CodeProtocol, at, "http2: PRIORITY frame on stream 0")
		}
		if s.length != 5 {
			return errAt(CodeMalformed, at, "http2: PRIORITY frame of %d bytes, want 5", s.length)
		}
	case H2FrameRSTStream:
		if s.stream == 0 {
			return errAt(CodeProtocol, at, "http2: RST_STREAM frame on stream 0")
		}
		if s.length != 4 {
			return errAt(CodeMalformed, at, "http2: RST_STREAM frame of %d bytes, want 4", s.length)
		}
	case H2FrameSettings:
		if s.stream != 0 {
			return errAt(CodeProtocol, at, "http2: SETTINGS frame on stream %d", s.stream)
		}
		if s.flags&H2FlagAck != 0 {
			if s.length != 0 {
				return errAt(CodeMalformed, at, "http2: SETTINGS ACK with %d payload bytes", s.length)
			}
			s.conn.Counters.SettingsAcks++
			return nil
		}
		if s.length%6 != 0 {
			return errAt(CodeMalformed, at, "http2: SETTINGS frame of %d bytes, not a multiple of 6", s.length)
		}
		s.conn.Counters.SettingsFrames++
		switch {
		case !s.sawSetting:
			s.sawSetting = true
			s.settingsList = 1
			s.conn.Settings = make([]H2Setting, 0, min(int(s.length/6), s.cfg.MaxKept))
		case len(s.conn.LaterSettings) < s.cfg.MaxKept:
			s.settingsList = 2
			s.conn.LaterSettings = append(s.conn.LaterSettings, make([]H2Setting, 0, min(int(s.length/6), s.cfg.MaxKept)))
		default:
			s.conn.Counters.Dropped++
		}
	case H2FramePushPromise:
		return errAt(CodeProtocol, at, "http2: PUSH_PROMISE frame from a client")
	case H2FramePing:
		if s.stream != 0 {
			return errAt(CodeProtocol, at, "http2: PING frame on stream %d", s.stream)
		}
		if s.length != 8 {
			return errAt(CodeMalformed, at, "http2: PING frame of %d bytes, want 8", s.length)
		}
	case H2FrameGoAway:
		if s.stream != 0 {
			return errAt(CodeProtocol, at, "http2: GOAWAY frame on stream %d", s.stream)
		}
		if s.length < 8 {
			return errAt(CodeMalformed, at, "http2: GOAWAY frame of %d bytes, want at least 8", s.length)
		}
		s.conn.Counters.GoAways++
		s.conn.GoAway = &H2GoAway{}
	case H2FrameWindowUpdate:
		if s.length != 4 {
			return errAt(CodeMalformed, at, "http2: WINDOW_UPDATE frame of %d bytes, want 4", s.length)
		}
	case H2FrameContinuation:
		if !s.inBlock {
			return errAt(CodeProtocol, at, "http2: CONTINUATION frame on stream %d without an open header block", s.stream)
		}
		s.blockReq.Continuations++
		if s.blockReq.Continuations > s.cfg.MaxContinuations {
			return errAt(CodeTooLarge, at, "http2: more than %d CONTINUATION frames in one header block", s.cfg.MaxContinuations)
		}
	default:
		s.conn.Counters.UnknownFrames++
	}
	if s.prelude > s.length {
		return errAt(CodeMalformed, at, "http2: %s frame of %d bytes is too short for its flags", h2FrameName(s.typ), s.length)
	}
	return nil
}

// takeScratch collects up to n bytes of p into s.scratch and returns how many
// it took and whether s.scratch now holds n bytes.
func (s *H2Stream) takeScratch(p []byte, n int) (int, bool) {
	k := copy(s.scratch[s.scratchN:n], p)
	s.scratchN += k
	return k, s.scratchN == n
}

// payload processes the payload bytes p, which all belong to the current
// frame.
func (s *H2Stream) payload(p []byte) *ParseError {
	for len(p) > 0 {
		var k int
		var perr *ParseError
		switch s.typ {
		case H2FrameData:
			k, perr = s.dataPayload(p)
		case H2FrameHeaders, H2FrameContinuation:
			k, perr = s.headersPayload(p)
		case H2FrameSettings:
			k, perr = s.settingsPayload(p)
		case H2FramePriority, H2FrameRSTStream, H2FramePing, H2FrameWindowUpdate:
			k, _ = s.takeScratch(p, int(s.length))
		case H2FrameGoAway:
			k = s.goAwayPayload(p)
		default:
			k = len(p)
		}
		if perr != nil {
			return perr
		}
		s.pos += uint32(k)
		p = p[k:]
	}
	return nil
}

func (s *H2Stream) dataPayload(p []byte) (int, *ParseError) {
	if s.pos < s.prelude {
		s.padLen = uint32(p[0])
		if s.padLen > s.length-1 {
			return 0, errAt(CodeProtocol, int(s.frameOff)+9, "http2: DATA padding of %d bytes exceeds the %d-byte payload", s.padLen, s.length-1)
		}
		return 1, nil
	}
	return len(p), nil
}

func (s *H2Stream) headersPayload(p []byte) (int, *ParseError) {
	if s.pos < s.prelude {
		k, done := s.takeScratch(p, int(s.prelude))
		if done {
			if perr := s.beginBlock(); perr != nil {
				return 0, perr
			}
		}
		return k, nil
	}
	fragEnd := s.length - s.padLen
	if s.pos >= fragEnd {
		return len(p), nil // padding
	}
	k := min(uint32(len(p)), fragEnd-s.pos)
	if perr := s.decode(p[:k]); perr != nil {
		return 0, perr
	}
	return int(k), nil
}

// beginBlock handles a HEADERS frame once its padding and priority fields
// are known. For an unpadded HEADERS frame without priority it runs from
// endFrame or before the first fragment byte.
func (s *H2Stream) beginBlock() *ParseError {
	if s.typ != H2FrameHeaders || s.inBlock {
		return nil
	}
	b := s.scratch[:s.prelude]
	if s.flags&H2FlagPadded != 0 {
		s.padLen = uint32(b[0])
		b = b[1:]
		if s.padLen > s.length-s.prelude {
			return errAt(CodeProtocol, int(s.frameOff)+9, "http2: HEADERS padding of %d bytes exceeds the %d-byte payload", s.padLen, s.length-s.prelude)
		}
	}
	req := H2Request{
		StreamID:  s.stream,
		Flags:     s.flags,
		EndStream: s.flags&H2FlagEndStream != 0,
		Padded:    s.flags&H2FlagPadded != 0,
		PadLength: uint8(s.padLen),
	}
	if s.flags&H2FlagPriority != 0 {
		v := binary.BigEndian.Uint32(b)
		req.Priority = &H2Priority{
			StreamID:  s.stream,
			Exclusive: v>>31 == 1,
			DependsOn: v & (1<<31 - 1),
			Weight:    uint16(b[4]) + 1,
		}
	}
	s.inBlock = true
	s.blockStrm = s.stream
	s.blockTrail = s.stream <= s.maxStream
	if !s.blockTrail {
		s.maxStream = s.stream
	}
	s.blockReq = req
	s.block = s.block[:0]
	s.blockOver = false
	s.fields = s.fields[:0] // emptied by the last endBlock, or nil
	s.listSize = 0
	s.overflow = false
	s.dec.SetEmitEnabled(true)
	s.sawHeaders = true
	return nil
}

// decode feeds a header block fragment to the HPACK decoder.
func (s *H2Stream) decode(frag []byte) *ParseError {
	if !s.inBlock {
		if perr := s.beginBlock(); perr != nil {
			return perr
		}
	}
	// A block over MaxHeaderListSize is still decoded, with emission off,
	// so the dynamic table stays in sync with the client's encoder: the
	// server refuses that one request (431) and the connection goes on, so
	// the capture must go on too. endBlock drops the block.
	if !s.blockOver {
		if len(s.block)+len(frag) > maxHPACKBlock {
			s.blockOver, s.block = true, nil
		} else {
			s.block = append(s.block, frag...)
		}
	}
	_, err := s.dec.Write(frag)
	if err != nil {
		return s.hpackError(err)
	}
	return nil
}

func (s *H2Stream) hpackError(err error) *ParseError {
	if errors.Is(err, hpack.ErrStringLength) {
		return &ParseError{Code: CodeTooLarge, Offset: int(s.frameOff), Msg: fmt.Sprintf("http2: header field on stream %d longer than %d bytes", s.blockStrm, s.cfg.MaxHeaderListSize), Err: err}
	}
	return &ParseError{Code: CodeHPACK, Offset: int(s.frameOff), Msg: fmt.Sprintf("http2: decoding header block on stream %d", s.blockStrm), Err: err}
}

// emitField is the HPACK decoder's callback.
func (s *H2Stream) emitField(f hpack.HeaderField) {
	s.listSize += uint64(len(f.Name)) + uint64(len(f.Value)) + 32
	if s.listSize > uint64(s.cfg.MaxHeaderListSize) {
		s.overflow = true
		s.dec.SetEmitEnabled(false)
		return
	}
	if s.fields == nil {
		s.fields = make([]Header, 0, 16) // a browser request's fields, grown once
	}
	s.fields = append(s.fields, Header{Name: f.Name, Value: f.Value})
}

func (s *H2Stream) settingsPayload(p []byte) (int, *ParseError) {
	k, done := s.takeScratch(p, 6)
	if !done {
		return k, nil
	}
	s.scratchN = 0
	st := H2Setting{ID: binary.BigEndian.Uint16(s.scratch[:2]), Value: binary.BigEndian.Uint32(s.scratch[2:6])}
	var list *[]H2Setting
	switch s.settingsList {
	case 1:
		list = &s.conn.Settings
	case 2:
		list = &s.conn.LaterSettings[len(s.conn.LaterSettings)-1]
	}
	if list != nil {
		if len(*list) < s.cfg.MaxKept {
			*list = append(*list, st)
		} else {
			s.conn.Counters.Dropped++
		}
	}
	// The checks golang.org/x/net/http2 treats as connection errors.
	at := int(s.frameOff) + 9 + int(s.pos) + k - 6
	switch {
	case st.ID == H2SettingEnablePush && st.Value > 1,
		st.ID == H2SettingEnableConnectProtocol && st.Value > 1:
		return 0, errAt(CodeProtocol, at, "http2: %s = %d, want 0 or 1", H2SettingName(st.ID), st.Value)
	case st.ID == H2SettingInitialWindowSize && st.Value > 1<<31-1:
		return 0, errAt(CodeProtocol, at, "http2: INITIAL_WINDOW_SIZE = %d exceeds 2^31-1", st.Value)
	case st.ID == H2SettingMaxFrameSize && (st.Value < 16384 || st.Value > MaxH2FrameSize):
		return 0, errAt(CodeProtocol, at, "http2: MAX_FRAME_SIZE = %d outside [16384, 2^24-1]", st.Value)
	}
	return k, nil
}

func (s *H2Stream) goAwayPayload(p []byte) int {
	if s.pos < 8 {
		k, done := s.takeScratch(p, 8)
		if done {
			s.conn.GoAway.LastStreamID = binary.BigEndian.Uint32(s.scratch[:4]) & (1<<31 - 1)
			s.conn.GoAway.ErrCode = binary.BigEndian.Uint32(s.scratch[4:8])
		}
		return k
	}
	if room := h2MaxGoAwayDebug - len(s.conn.GoAway.DebugData); room > 0 {
		s.conn.GoAway.DebugData = append(s.conn.GoAway.DebugData, p[:min(room, len(p))]...)
	}
	return len(p)
}

// keep appends v to *list unless the list holds cfg.MaxKept records.
func keep[T any](s *H2Stream, list *[]T, v T) {
	if len(*list) < s.cfg.MaxKept {
		*list = append(*list, v)
		return
	}
	s.conn.Counters.Dropped++
}

// endFrame finishes the current frame once its whole payload was processed.
func (s *H2Stream) endFrame() *h2Event {
	s.hdrN = 0
	at := int(s.frameOff)
	b := s.scratch[:]
	switch s.typ {
	case H2FrameData:
		s.conn.Counters.DataFrames++
		n := s.length - s.prelude - s.padLen
		s.conn.Counters.DataBytes += int64(n)
		if i := s.findRequest(s.stream); i >= 0 && len(s.conn.Requests[i].Data) < H2MaxStreamFrames {
			s.conn.Requests[i].Data = append(s.conn.Requests[i].Data, H2DataFrame{Length: n, EndStream: s.flags&H2FlagEndStream != 0})
		}
	case H2FrameHeaders, H2FrameContinuation:
		if s.typ == H2FrameHeaders && !s.inBlock {
			// A HEADERS frame with an empty fragment.
			if perr := s.beginBlock(); perr != nil {
				s.fail(perr)
				return nil
			}
		}
		if s.flags&H2FlagEndHeaders != 0 {
			return s.endBlock()
		}
	case H2FramePriority:
		v := binary.BigEndian.Uint32(b)
		pr := H2Priority{StreamID: s.stream, Exclusive: v>>31 == 1, DependsOn: v & (1<<31 - 1), Weight: uint16(b[4]) + 1}
		s.conn.Counters.PriorityFrames++
		if s.sawHeaders {
			keep(s, &s.conn.LaterPriorities, pr)
		} else {
			keep(s, &s.conn.Priorities, pr)
		}
	case H2FrameRSTStream:
		s.conn.Counters.RSTStreams++
		keep(s, &s.conn.RSTStreams, H2RSTStream{StreamID: s.stream, ErrCode: binary.BigEndian.Uint32(b)})
	case H2FramePing:
		s.conn.Counters.Pings++
	case H2FrameWindowUpdate:
		inc := binary.BigEndian.Uint32(b) & (1<<31 - 1)
		if inc == 0 && s.stream == 0 {
			s.fail(errAt(CodeProtocol, at, "http2: connection WINDOW_UPDATE with increment 0"))
			return nil
		}
		s.conn.Counters.WindowUpdates++
		keep(s, &s.conn.WindowUpdates, H2WindowUpdate{StreamID: s.stream, Increment: inc})
		if s.stream != 0 {
			if i := s.findRequest(s.stream); i >= 0 && len(s.conn.Requests[i].WindowUpdates) < H2MaxStreamFrames {
				s.conn.Requests[i].WindowUpdates = append(s.conn.Requests[i].WindowUpdates, inc)
			}
		}
		if s.stream == 0 && !s.sawHeaders && !s.sawConnWU {
			s.sawConnWU = true
			s.conn.WindowUpdate = inc
		}
	}
	return nil
}

// endBlock completes the open header block.
func (s *H2Stream) endBlock() *h2Event {
	s.inBlock = false
	if err := s.dec.Close(); err != nil {
		s.fail(s.hpackError(err))
		return nil
	}
	fields := s.fields
	s.fields = nil
	if s.overflow {
		s.overflow = false
		s.conn.Counters.OversizedBlocks++
		if !s.blockTrail {
			s.conn.RequestsSeen++
		}
		s.blockReq = H2Request{}
		s.fields = reuseFields(fields)
		return nil
	}
	if s.blockTrail {
		s.conn.Counters.TrailerBlocks++
		if i := s.findRequest(s.blockStrm); i >= 0 && s.conn.Requests[i].Trailers == nil {
			s.conn.Requests[i].Trailers = fields
		}
		return &h2Event{trailers: fields, stream: s.blockStrm}
	}
	s.conn.Counters.HeaderBlocks++
	req := s.blockReq
	s.blockReq = H2Request{}
	if !s.blockOver {
		if codes, err := HPACKCodes(s.block); err == nil {
			req.HPACK = codes
		}
	}
	if cap(s.block) > 4<<10 {
		s.block = nil // keep a connection's idle footprint small
	}
	npseudo := 0
	for _, f := range fields {
		if strings.HasPrefix(f.Name, ":") {
			npseudo++
		}
	}
	// One array holds both lists, each with its own capacity.
	all := make([]Header, len(fields))
	req.Pseudo = all[:0:npseudo]
	req.Headers = all[npseudo:npseudo:len(fields)]
	for _, f := range fields {
		if strings.HasPrefix(f.Name, ":") {
			req.Pseudo = append(req.Pseudo, f)
		} else {
			req.Headers = append(req.Headers, f)
		}
	}
	s.fields = reuseFields(fields)
	s.conn.RequestsSeen++
	if len(s.conn.Requests) < s.cfg.MaxRequests {
		s.conn.Requests = append(s.conn.Requests, req)
	} else {
		s.conn.Counters.Dropped++
	}
	return &h2Event{req: &req, stream: req.StreamID}
}

// maxReusedFields bounds the field list a stream keeps between header
// blocks.
const maxReusedFields = 64

// reuseFields returns fields emptied for the next header block of the
// stream, once its entries were copied out (requests; a trailer block's
// list is kept by its request, so it is not reused), or nil when it is
// too large to keep.
func reuseFields(fields []Header) []Header {
	if cap(fields) > maxReusedFields {
		return nil
	}
	clear(fields)
	return fields[:0]
}

func h2FrameName(t uint8) string {
	switch t {
	case H2FrameData:
		return "DATA"
	case H2FrameHeaders:
		return "HEADERS"
	case H2FramePriority:
		return "PRIORITY"
	case H2FrameRSTStream:
		return "RST_STREAM"
	case H2FrameSettings:
		return "SETTINGS"
	case H2FramePushPromise:
		return "PUSH_PROMISE"
	case H2FramePing:
		return "PING"
	case H2FrameGoAway:
		return "GOAWAY"
	case H2FrameWindowUpdate:
		return "WINDOW_UPDATE"
	case H2FrameContinuation:
		return "CONTINUATION"
	}
	return "UNKNOWN_" + strconv.Itoa(int(t))
}
