package fingerprint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// Header is one header field as the client sent it: the name with its
// original case (HTTP/1) or as decoded from HPACK (HTTP/2), and the value.
//
// Its JSON form is the ordered pair ["name", "value"], so a []Header encodes
// as an array of pairs that keeps wire order, duplicates and case.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// MarshalJSON encodes h as the two-element array [Name, Value].
func (h Header) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal([2]string{h.Name, h.Value})
	if err != nil {
		return nil, fmt.Errorf("fingerprint: encoding header %q: %w", h.Name, err)
	}
	return b, nil
}

// UnmarshalJSON decodes the two-element array form written by MarshalJSON.
// Any other shape, including arrays of another length, is an error.
func (h *Header) UnmarshalJSON(b []byte) error {
	var pair []string
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("fingerprint: decoding header pair: %w", err)
	}
	if len(pair) != 2 {
		return fmt.Errorf("fingerprint: decoding header pair: want [name, value], got %d elements", len(pair))
	}
	h.Name, h.Value = pair[0], pair[1]
	return nil
}

// Default limits for HTTP/1 request heads.
const (
	// DefaultHTTP1MaxHeadBytes bounds a request head: request line, header
	// lines and the terminating empty line.
	DefaultHTTP1MaxHeadBytes = 64 << 10
	// DefaultHTTP1MaxHeaders bounds the number of header fields (obs-fold
	// continuation lines are not counted separately).
	DefaultHTTP1MaxHeaders = 256
)

// HTTP1Limits bounds what the HTTP/1 parsers accept. A zero field means the
// package default. The limits are enforced while scanning, so an oversized
// head is rejected as soon as the limit is crossed, without buffering more.
type HTTP1Limits struct {
	// MaxHeadBytes is the largest accepted head, terminating empty line
	// included. Default DefaultHTTP1MaxHeadBytes. Servers placed behind the
	// capture should use the same or a smaller limit (http.Server
	// MaxHeaderBytes) so capture never gives up on a head the server serves.
	MaxHeadBytes int
	// MaxHeaders is the largest accepted number of header fields. Default
	// DefaultHTTP1MaxHeaders.
	MaxHeaders int
}

func (l HTTP1Limits) withDefaults() HTTP1Limits {
	if l.MaxHeadBytes <= 0 {
		l.MaxHeadBytes = DefaultHTTP1MaxHeadBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultHTTP1MaxHeaders
	}
	return l
}

// HTTP1Request is one parsed HTTP/1 request head.
//
// Headers holds every header field in wire order, names with the case the
// client used, duplicates kept. Values have leading and trailing spaces and
// tabs removed, as net/http does.
type HTTP1Request struct {
	Method  string   `json:"method"`
	Target  string   `json:"target"`
	Proto   string   `json:"proto"`
	Headers []Header `json:"headers"`
	// BareLF is true when at least one line of the head (the terminating
	// empty line included) ended in LF without a preceding CR.
	BareLF bool `json:"bare_lf"`
	// ObsFold is true when a header value was continued on a following line
	// starting with a space or tab (obsolete line folding). Such lines are
	// joined to the value with one space, exactly as net/http does.
	ObsFold bool `json:"obs_fold"`
}

// Get returns the value of the first header whose name equals name, ignoring
// ASCII case, or "" when there is none.
func (r *HTTP1Request) Get(name string) string {
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// HeaderOrder returns the header-order fingerprint of the request: the header
// names as sent, case kept, duplicates kept.
func (r *HTTP1Request) HeaderOrder() HeaderOrderFP {
	return headerOrderOfHeaders(nil, r.Headers)
}

// IsIncomplete reports whether err means the input ended before a complete
// request head or frame: the caller should supply more bytes and retry.
func IsIncomplete(err error) bool {
	return ErrCode(err) == CodeTruncated
}

// ParseHTTP1Request parses one HTTP/1 request head from the start of b: the
// request line, the header lines and the empty line that ends them. It
// returns the request and n, the number of bytes the head occupies in b; any
// body starts at b[n].
//
// The accepted syntax is the one net/http's server accepts:
//   - lines end in CRLF or in a bare LF (recorded in BareLF); a CR anywhere
//     else is malformed;
//   - the request line is METHOD SP TARGET SP HTTP/d.d with a token method
//     and a target free of control bytes (the target is not otherwise
//     checked);
//   - header names are non-empty tokens followed directly by ':'; values may
//     hold tab, space, visible ASCII and bytes >= 0x80;
//   - obsolete line folding is accepted and joined with one space (ObsFold),
//     but the first header line may not start with whitespace;
//   - leading empty lines are not skipped (HTTP1Stream handles the tolerance
//     net/http grants after a POST).
//
// Errors are *ParseError values with offsets into b. When b ends before the
// head does, the error has CodeTruncated (see IsIncomplete). A head longer
// than lim.MaxHeadBytes or with more than lim.MaxHeaders fields gives
// CodeTooLarge as soon as that is visible, whatever follows. The result is
// prefix-stable: for any prefix of b the function returns either
// CodeTruncated or exactly what it returns for b.
func ParseHTTP1Request(b []byte, lim HTTP1Limits) (req *HTTP1Request, n int, err error) {
	lim = lim.withDefaults()
	scan, perr := h1ScanHead(b, lim)
	if perr != nil {
		return nil, 0, perr
	}
	return h1BuildRequest(b[:scan.end], scan), scan.end, nil
}

// h1HeadScan is what the validating pass over a head learned.
type h1HeadScan struct {
	end     int // bytes occupied by the head
	headers int // header fields
	bareLF  bool
	obsFold bool
}

// h1NextLine finds the line starting at b[pos:]. It returns the line without
// its terminator, the offset just past the terminator and whether the
// terminator was a bare LF. ok is false when b holds no LF after pos.
func h1NextLine(b []byte, pos int) (line []byte, next int, bareLF, ok bool) {
	i := bytes.IndexByte(b[pos:], '\n')
	if i < 0 {
		return nil, 0, false, false
	}
	line = b[pos : pos+i]
	next = pos + i + 1
	if len(line) > 0 && line[len(line)-1] == '\r' {
		return line[:len(line)-1], next, false, true
	}
	return line, next, true, true
}

// h1ScanHead validates the head at the start of b and finds its end without
// allocating.
func h1ScanHead(b []byte, lim HTTP1Limits) (h1HeadScan, *ParseError) {
	w := b
	if len(w) > lim.MaxHeadBytes {
		w = w[:lim.MaxHeadBytes]
	}
	incomplete := func() *ParseError {
		if len(b) > lim.MaxHeadBytes {
			return errAt(CodeTooLarge, lim.MaxHeadBytes, "http1: request head exceeds %d bytes", lim.MaxHeadBytes)
		}
		return errAt(CodeTruncated, len(b), "http1: request head incomplete")
	}
	line, pos, bare, ok := h1NextLine(w, 0)
	if !ok {
		return h1HeadScan{}, incomplete()
	}
	if perr := h1CheckRequestLine(line); perr != nil {
		return h1HeadScan{}, perr
	}
	s, complete, perr := h1ScanFields(w, pos, lim.MaxHeaders, "header", false)
	if perr != nil {
		return s, perr
	}
	if !complete {
		return s, incomplete()
	}
	s.bareLF = s.bareLF || bare
	return s, nil
}

// h1ScanFields validates the field lines of a header or trailer section
// starting at b[pos:], up to and including the empty line that ends it.
// complete is false when b ends first. what names the section in errors.
//
// lenientNames accepts spaces in field names, as net/http's MIME reader does
// for trailers (its server rejects them only in request heads).
func h1ScanFields(b []byte, pos, maxFields int, what string, lenientNames bool) (s h1HeadScan, complete bool, perr *ParseError) {
	for {
		lineStart := pos
		line, next, bare, ok := h1NextLine(b, lineStart)
		if !ok {
			return s, false, nil
		}
		pos = next
		s.bareLF = s.bareLF || bare
		if len(line) == 0 {
			s.end = pos
			return s, true, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if s.headers == 0 {
				return s, false, errAt(CodeMalformed, lineStart, "http1: first %s line starts with whitespace", what)
			}
			s.obsFold = true
			if off := h1BadValueByte(line); off >= 0 {
				return s, false, errAt(CodeMalformed, lineStart+off, "http1: invalid byte 0x%02x in folded %s value", line[off], what)
			}
			continue
		}
		s.headers++
		if s.headers > maxFields {
			return s, false, errAt(CodeTooLarge, lineStart, "http1: more than %d %s fields", maxFields, what)
		}
		if perr := h1CheckFieldLine(line, lineStart, what, lenientNames); perr != nil {
			return s, false, perr
		}
	}
}

// h1CheckRequestLine validates "METHOD SP TARGET SP PROTO" the way net/http
// splits it: on the first two spaces.
func h1CheckRequestLine(line []byte) *ParseError {
	sp1 := bytes.IndexByte(line, ' ')
	method := line
	if sp1 >= 0 {
		method = line[:sp1]
	}
	for i, c := range method {
		if !h1TokenByte(c) {
			return errAt(CodeMalformed, i, "http1: invalid byte 0x%02x in request method", c)
		}
	}
	if sp1 < 0 {
		return errAt(CodeMalformed, len(line), "http1: request line has no space after the method")
	}
	if len(method) == 0 {
		return errAt(CodeMalformed, 0, "http1: empty request method")
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 < 0 {
		return errAt(CodeMalformed, len(line), "http1: request line has no space after the target")
	}
	sp2 += sp1 + 1
	target, proto := line[sp1+1:sp2], line[sp2+1:]
	if len(target) == 0 {
		return errAt(CodeMalformed, sp1+1, "http1: empty request target")
	}
	for i, c := range target {
		if c < 0x20 || c == 0x7f {
			return errAt(CodeMalformed, sp1+1+i, "http1: control byte 0x%02x in request target", c)
		}
	}
	if _, _, ok := h1ParseVersion(proto); !ok {
		return errAt(CodeMalformed, sp2+1, "http1: malformed protocol version %q", h1Quote(proto))
	}
	return nil
}

// h1ParseVersion parses "HTTP/d.d" as net/http's ParseHTTPVersion does.
func h1ParseVersion(p []byte) (major, minor int, ok bool) {
	if len(p) != len("HTTP/1.1") || string(p[:5]) != "HTTP/" || p[6] != '.' {
		return 0, 0, false
	}
	if p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9' {
		return 0, 0, false
	}
	return int(p[5] - '0'), int(p[7] - '0'), true
}

// h1CheckFieldLine validates "name: value", the first line of a field.
// lenientNames also accepts spaces in the name.
func h1CheckFieldLine(line []byte, off int, what string, lenientNames bool) *ParseError {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return errAt(CodeMalformed, off, "http1: %s line without colon: %q", what, h1Quote(line))
	}
	if colon == 0 {
		return errAt(CodeMalformed, off, "http1: empty %s name", what)
	}
	for i, c := range line[:colon] {
		if !h1TokenByte(c) && !(lenientNames && c == ' ') {
			return errAt(CodeMalformed, off+i, "http1: invalid byte 0x%02x in %s name", c, what)
		}
	}
	if i := h1BadValueByte(line[colon+1:]); i >= 0 {
		return errAt(CodeMalformed, off+colon+1+i, "http1: invalid byte 0x%02x in %s value", line[colon+1+i], what)
	}
	return nil
}

// h1BadValueByte returns the index of the first byte not allowed in a header
// value (anything but HTAB, SP, VCHAR and obs-text), or -1.
func h1BadValueByte(v []byte) int {
	for i, c := range v {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return i
		}
	}
	return -1
}

// h1TokenByte reports whether c is an RFC 9110 tchar.
func h1TokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// h1TrimOWS trims spaces and tabs on both ends.
func h1TrimOWS(s string) string {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	return s[i:j]
}

// h1Quote shortens b for error messages.
func h1Quote(b []byte) string {
	const maxQuote = 64
	if len(b) > maxQuote {
		return string(b[:maxQuote]) + "..."
	}
	return string(b)
}

// h1BuildRequest turns a head already validated by h1ScanHead into a
// request. All strings share one copy of the head.
func h1BuildRequest(head []byte, scan h1HeadScan) *HTTP1Request {
	s := string(head)
	req := &HTTP1Request{
		Headers: make([]Header, 0, scan.headers),
		BareLF:  scan.bareLF,
		ObsFold: scan.obsFold,
	}
	next := func(pos int) (string, int) {
		i := strings.IndexByte(s[pos:], '\n')
		line := s[pos : pos+i]
		line = strings.TrimSuffix(line, "\r")
		return line, pos + i + 1
	}
	line, pos := next(0)
	req.Method, line, _ = strings.Cut(line, " ")
	req.Target, req.Proto, _ = strings.Cut(line, " ")
	for {
		line, pos = next(pos)
		if line == "" {
			return req
		}
		if line[0] == ' ' || line[0] == '\t' {
			// net/http joins the trimmed lines with one space and then
			// strips leading whitespace from the joined value.
			last := &req.Headers[len(req.Headers)-1]
			last.Value = strings.TrimLeft(last.Value+" "+h1TrimOWS(line), " \t")
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		req.Headers = append(req.Headers, Header{Name: name, Value: h1TrimOWS(value)})
	}
}

// HTTP1StopReason says why an HTTP1Stream stopped parsing. The empty value
// means it is still parsing.
type HTTP1StopReason string

// Reasons an HTTP1Stream stops. After a stop every further byte is counted in
// HTTP1StreamStatus.Ignored and otherwise ignored.
const (
	// HTTP1Running: still parsing.
	HTTP1Running HTTP1StopReason = ""
	// HTTP1StopError: the bytes violate HTTP/1 framing or a limit; Err says
	// how. net/http rejects such input too, so the connection ends there.
	HTTP1StopError HTTP1StopReason = "error"
	// HTTP1StopUpgrade: a request carried an Upgrade header; whether the
	// server switched protocols cannot be known from the client's bytes.
	HTTP1StopUpgrade HTTP1StopReason = "upgrade"
	// HTTP1StopConnect: a CONNECT request; the rest is a tunnel.
	HTTP1StopConnect HTTP1StopReason = "connect"
	// HTTP1StopHTTP2: the HTTP/2 connection preface (PRI * HTTP/2.0)
	// arrived where a request was expected; StopOffset is where it starts,
	// so a caller can hand the stream from there to an H2Stream.
	HTTP1StopHTTP2 HTTP1StopReason = "http2_preface"
)

// HTTP1StreamStatus is a snapshot of an HTTP1Stream.
type HTTP1StreamStatus struct {
	// Requests is the number of request heads parsed and emitted.
	Requests int `json:"requests"`
	// BodyBytes is the number of request body bytes skipped: Content-Length
	// bodies and chunk data (not chunk framing or trailers).
	BodyBytes int64 `json:"body_bytes"`
	// Consumed is the number of stream bytes fully processed; bytes of a
	// partial head or chunk line waiting for more input are not included.
	Consumed int64 `json:"consumed"`
	// Ignored is, once the stream has stopped, the number of bytes written
	// but not consumed: those that caused or followed the stop. Consumed +
	// Ignored is then the total written. It is 0 while parsing goes on.
	Ignored int64 `json:"ignored"`
	// Stopped is why parsing stopped, HTTP1Running while it goes on.
	Stopped HTTP1StopReason `json:"stopped,omitempty"`
	// StopOffset is the stream offset of the request head that caused an
	// upgrade, CONNECT or HTTP/2 stop, or of the error.
	StopOffset int64 `json:"stop_offset,omitempty"`
	// Err is the *ParseError behind HTTP1StopError (offsets are stream
	// offsets), nil otherwise.
	Err error `json:"-"`
}

// HTTP1StreamConfig configures an HTTP1Stream.
type HTTP1StreamConfig struct {
	// Limits bound each request head (and trailer section).
	Limits HTTP1Limits
	// OnRequest, if set, is called once per request head, in stream order,
	// with its 0-based sequence number on the connection and its stream
	// offset. It runs synchronously inside Write on the writer's goroutine,
	// so it must be quick and must not block; it may call Status. The
	// request is handed over: the stream keeps no reference to it.
	OnRequest func(seq int, offset int64, req *HTTP1Request)
}

// HTTP1Stream parses the client-to-server byte stream of one HTTP/1
// connection incrementally: each request head is parsed as soon as it is
// complete and handed to OnRequest, and request bodies (Content-Length or
// chunked with trailers) are skipped, counted but not stored, to find the
// next head. Framing follows net/http's server, including its tolerance of
// up to four CR/LF bytes after a POST request.
//
// Parsing stops, and later bytes are ignored, at a framing error, at a
// CONNECT request, at a request with an Upgrade header and at the HTTP/2
// preface; Status says which. Memory is bounded by the limits: at most one
// partial head (Limits.MaxHeadBytes+1 bytes) is buffered, or one chunk-size
// line or trailer section (4 KiB, net/http's limits).
//
// Write may be called from one goroutine only; Status may be called
// concurrently from any goroutine.
type HTTP1Stream struct {
	lim       HTTP1Limits
	onRequest func(seq int, offset int64, req *HTTP1Request)

	mu      sync.Mutex
	status  HTTP1StreamStatus
	written int64 // bytes passed to Write

	// The fields below are only used by the writer goroutine, under mu.
	state     h1State
	buf       []byte // partial head, chunk-size line or trailer section
	off       int64  // stream offset of the first byte not yet consumed (buf[0] while buffering)
	skipCRLF  int    // leading CR/LF bytes still tolerated before a head
	afterPOST bool   // the last request was a POST
	remaining uint64 // bytes left in a Content-Length body or a chunk
	excess    int64  // chunk framing overhead, as net/http accounts it
	crlf      int    // bytes of the CRLF after chunk data seen so far

	// Incremental line scanner over buf while in h1StateHead.
	scanPos int // buf offset where the current (incomplete) line starts
	lineNo  int // complete lines seen
	fields  int // header field lines seen
}

type h1State uint8

const (
	h1StateHead h1State = iota
	h1StateBody
	h1StateChunkSize
	h1StateChunkData
	h1StateChunkCRLF
	h1StateTrailer
	h1StateStopped
)

// net/http's limits for chunked framing.
const (
	h1MaxChunkLine   = 4096      // chunk-size line, CRLF included (bufio buffer size)
	h1MaxTrailer     = 4096      // trailer section, final CRLFCRLF included
	h1MaxChunkExcess = 16 * 1024 // framing overhead allowance
	h1POSTSkip       = 4         // CR/LF bytes tolerated after a POST
)

// NewHTTP1Stream returns a stream parser positioned at the start of a
// connection.
func NewHTTP1Stream(cfg HTTP1StreamConfig) *HTTP1Stream {
	return &HTTP1Stream{lim: cfg.Limits.withDefaults(), onRequest: cfg.OnRequest}
}

// Status returns a snapshot of the stream's progress.
func (s *HTTP1Stream) Status() HTTP1StreamStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if st.Stopped != HTTP1Running {
		st.Ignored = s.written - st.Consumed
	}
	return st
}

// Write feeds the next bytes the client sent. It always returns len(p), nil:
// protocol errors are reported by Status, never to the writer, so an
// HTTP1Stream can sit behind an io.TeeReader on a live connection.
func (s *HTTP1Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.written += int64(len(p))
	s.mu.Unlock()
	s.feed(p)
	return len(p), nil
}

// feed processes p. Bytes handed back for replay are processed before the
// rest of p; each replay is shorter than the buffer it came from, so the
// recursion is bounded by h1MaxTrailer.
func (s *HTTP1Stream) feed(p []byte) {
	for len(p) > 0 {
		s.mu.Lock()
		if s.state == h1StateStopped {
			s.mu.Unlock()
			return
		}
		rest, req, seq, reqOff, replay := s.step(p)
		s.mu.Unlock()
		if req != nil && s.onRequest != nil {
			s.onRequest(seq, reqOff, req)
		}
		if replay != nil {
			s.feed(replay)
		}
		p = rest
	}
}

// step consumes a prefix of p in the current state and returns the rest, and
// a request when one was completed. replay, when not nil, holds bytes taken
// from earlier input that must be parsed again before rest.
func (s *HTTP1Stream) step(p []byte) (rest []byte, req *HTTP1Request, seq int, reqOff int64, replay []byte) {
	switch s.state {
	case h1StateHead:
		rest, req, seq, reqOff = s.stepHead(p)
		return rest, req, seq, reqOff, nil
	case h1StateBody, h1StateChunkData:
		k := min(uint64(len(p)), s.remaining)
		s.remaining -= k
		s.consume(int64(k))
		s.status.BodyBytes += int64(k)
		if s.remaining == 0 {
			if s.state == h1StateBody {
				s.enterHead()
			} else {
				s.state, s.crlf = h1StateChunkCRLF, 0
			}
		}
		return p[k:], nil, 0, 0, nil
	case h1StateChunkSize:
		return s.stepChunkSize(p), nil, 0, 0, nil
	case h1StateChunkCRLF:
		for len(p) > 0 && s.crlf < 2 {
			if p[0] != "\r\n"[s.crlf] {
				s.stop(HTTP1StopError, errAt(CodeMalformed, 0, "http1: chunk data not followed by CRLF"), s.off)
				return p, nil, 0, 0, nil
			}
			s.crlf++
			s.consume(1)
			p = p[1:]
		}
		if s.crlf == 2 {
			s.state = h1StateChunkSize
		}
		return p, nil, 0, 0, nil
	case h1StateTrailer:
		rest, replay = s.stepTrailer(p)
		return rest, nil, 0, 0, replay
	}
	return p, nil, 0, 0, nil
}

func (s *HTTP1Stream) consume(n int64) {
	s.off += n
	s.status.Consumed += n
}

// stop ends parsing. perr offsets are relative to base and are rebased to
// stream offsets.
func (s *HTTP1Stream) stop(reason HTTP1StopReason, perr *ParseError, at int64) {
	s.state = h1StateStopped
	s.status.Stopped = reason
	s.status.StopOffset = at
	if perr != nil {
		rebased := *perr
		rebased.Offset += int(at)
		s.status.Err = &rebased
		s.status.StopOffset = int64(rebased.Offset)
	}
	s.releaseBuf()
}

func (s *HTTP1Stream) releaseBuf() {
	if cap(s.buf) > 8<<10 {
		s.buf = nil
	} else {
		s.buf = s.buf[:0]
	}
}

func (s *HTTP1Stream) enterHead() {
	s.state = h1StateHead
	s.releaseBuf()
	s.scanPos, s.lineNo, s.fields = 0, 0, 0
	s.skipCRLF = 0
	if s.afterPOST {
		s.skipCRLF = h1POSTSkip
	}
}

// bufferFrom appends up to limit-len(s.buf) bytes of p to s.buf and returns
// how many bytes s.buf held before and how many it took from p.
func (s *HTTP1Stream) bufferFrom(p []byte, limit int) (old, took int) {
	old = len(s.buf)
	took = min(len(p), limit-old)
	s.buf = append(s.buf, p[:took]...)
	return old, took
}

func (s *HTTP1Stream) stepHead(p []byte) ([]byte, *HTTP1Request, int, int64) {
	if len(s.buf) == 0 {
		for s.skipCRLF > 0 && len(p) > 0 && (p[0] == '\r' || p[0] == '\n') {
			s.skipCRLF--
			s.consume(1)
			p = p[1:]
		}
		if len(p) == 0 {
			return p, nil, 0, 0
		}
		s.skipCRLF = 0
		// Fast path: the whole head is in p; parse it in place.
		req, n, err := ParseHTTP1Request(p, s.lim)
		if err == nil {
			return s.finishHead(p[n:], req, n)
		}
		if !IsIncomplete(err) {
			s.stop(HTTP1StopError, err.(*ParseError), s.off)
			return p, nil, 0, 0
		}
	}
	old, took := s.bufferFrom(p, s.lim.MaxHeadBytes+1)
	if !s.scanHeadLines() && len(s.buf) <= s.lim.MaxHeadBytes {
		return p[took:], nil, 0, 0
	}
	req, n, err := ParseHTTP1Request(s.buf, s.lim)
	switch {
	case err == nil && n < old:
		// Unreachable: the scanner asks for a parse as soon as the empty
		// line ending a head is buffered. Stop rather than misparse.
		s.stop(HTTP1StopError, errAt(CodeMalformed, n, "http1: request head ended inside buffered bytes"), s.off)
		return p[took:], nil, 0, 0
	case err == nil:
		return s.finishHead(p[n-old:], req, n)
	case IsIncomplete(err) && len(s.buf) <= s.lim.MaxHeadBytes:
		return p[took:], nil, 0, 0
	case IsIncomplete(err):
		// Unreachable: ParseHTTP1Request never reports an incomplete
		// head longer than the limit. Stop rather than spin.
		s.stop(HTTP1StopError, errAt(CodeTooLarge, s.lim.MaxHeadBytes, "http1: request head exceeds %d bytes", s.lim.MaxHeadBytes), s.off)
		return p[took:], nil, 0, 0
	default:
		s.stop(HTTP1StopError, err.(*ParseError), s.off)
		return p[took:], nil, 0, 0
	}
}

// scanHeadLines advances the line scanner over s.buf and reports whether a
// full parse can decide something now: a line failed validation, the
// terminating empty line is complete, or there are too many header fields.
// Each line is looked at once, so a head trickled in byte by byte is still
// handled in linear time, and the checks are those of ParseHTTP1Request, so
// an error is found at the same point whatever the write boundaries.
func (s *HTTP1Stream) scanHeadLines() bool {
	for {
		line, next, _, ok := h1NextLine(s.buf, s.scanPos)
		if !ok {
			return false
		}
		start := s.scanPos
		s.scanPos = next
		s.lineNo++
		switch {
		case s.lineNo == 1:
			if h1CheckRequestLine(line) != nil {
				return true
			}
		case len(line) == 0:
			return true
		case line[0] == ' ' || line[0] == '\t':
			if s.fields == 0 || h1BadValueByte(line) >= 0 {
				return true
			}
		default:
			s.fields++
			if s.fields > s.lim.MaxHeaders || h1CheckFieldLine(line, start, "header", false) != nil {
				return true
			}
		}
	}
}

// finishHead accounts a parsed head of n bytes, emits it and chooses the body
// framing. rest is the input after the head.
func (s *HTTP1Stream) finishHead(rest []byte, req *HTTP1Request, n int) ([]byte, *HTTP1Request, int, int64) {
	at := s.off
	if req.Method == "PRI" && req.Target == "*" && req.Proto == "HTTP/2.0" {
		s.stop(HTTP1StopHTTP2, nil, at)
		return rest, nil, 0, 0
	}
	major, minor, _ := h1ParseVersion([]byte(req.Proto))
	if major != 1 {
		s.stop(HTTP1StopError, errAt(CodeProtocol, 0, "http1: unsupported protocol version %q", req.Proto), at)
		return rest, nil, 0, 0
	}
	s.consume(int64(n))
	seq := s.status.Requests
	s.status.Requests++
	s.afterPOST = req.Method == "POST"

	if req.Method == "CONNECT" {
		s.stop(HTTP1StopConnect, nil, at)
		return rest, req, seq, at
	}
	for _, h := range req.Headers {
		if strings.EqualFold(h.Name, "Upgrade") {
			s.stop(HTTP1StopUpgrade, nil, at)
			return rest, req, seq, at
		}
	}
	chunked, length, perr := h1BodyFraming(req, minor)
	if perr != nil {
		s.stop(HTTP1StopError, perr, at)
		return rest, req, seq, at
	}
	switch {
	case chunked:
		s.releaseBuf()
		s.state, s.excess = h1StateChunkSize, 0
	case length > 0:
		s.releaseBuf()
		s.state, s.remaining = h1StateBody, length
	default:
		s.enterHead()
	}
	return rest, req, seq, at
}

// h1BodyFraming decides how the body of req is delimited, as net/http's
// server does: Transfer-Encoding (HTTP/1.1 and later only) must be a single
// "chunked" field and wins over Content-Length; several Content-Length fields
// must agree; without either the body is empty. Errors carry offset 0 (the
// head's start).
func h1BodyFraming(req *HTTP1Request, minor int) (chunked bool, length uint64, perr *ParseError) {
	var (
		te, cl    string
		nTE, nCL  int
		mismatch  bool
		firstCLOK bool
	)
	for _, h := range req.Headers {
		switch {
		case strings.EqualFold(h.Name, "Transfer-Encoding"):
			nTE++
			te = h.Value
		case strings.EqualFold(h.Name, "Content-Length"):
			nCL++
			if nCL == 1 {
				cl, firstCLOK = h.Value, true
			} else if h.Value != cl {
				mismatch = true
			}
		}
	}
	if nTE > 0 && minor >= 1 {
		if nTE != 1 {
			return false, 0, errAt(CodeProtocol, 0, "http1: %d Transfer-Encoding fields", nTE)
		}
		if !strings.EqualFold(te, "chunked") {
			return false, 0, errAt(CodeProtocol, 0, "http1: unsupported transfer encoding %q", te)
		}
		chunked = true
	}
	if mismatch {
		return false, 0, errAt(CodeProtocol, 0, "http1: conflicting Content-Length fields")
	}
	if firstCLOK {
		n, ok := h1ParseContentLength(cl)
		if !ok {
			return false, 0, errAt(CodeProtocol, 0, "http1: invalid Content-Length %q", cl)
		}
		length = n
	}
	if chunked {
		return true, 0, nil
	}
	return false, length, nil
}

// h1ParseContentLength accepts 1 to 19 decimal digits below 2^63, as
// strconv.ParseUint(s, 10, 63) does.
func h1ParseContentLength(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<63-1-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// stepChunkSize reads one chunk-size line: hex size, optional extensions,
// CRLF (a bare LF or a stray CR is an error, as in net/http).
func (s *HTTP1Stream) stepChunkSize(p []byte) []byte {
	var line []byte
	var used int // bytes of p that the line used
	if len(s.buf) == 0 {
		if i := bytes.IndexByte(p[:min(len(p), h1MaxChunkLine)], '\n'); i >= 0 {
			line, used = p[:i+1], i+1
		}
	}
	if line == nil {
		old, took := s.bufferFrom(p, h1MaxChunkLine)
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			if len(s.buf) >= h1MaxChunkLine {
				s.stop(HTTP1StopError, errAt(CodeTooLarge, 0, "http1: chunk-size line longer than %d bytes", h1MaxChunkLine), s.off)
			}
			return p[took:]
		}
		line, used = s.buf[:i+1], i+1-old
	}
	size, perr := s.parseChunkLine(line)
	if perr != nil {
		s.stop(HTTP1StopError, perr, s.off)
		return p[used:]
	}
	s.consume(int64(len(line)))
	s.releaseBuf()
	if size == 0 {
		s.state = h1StateTrailer
	} else {
		s.state, s.remaining = h1StateChunkData, size
	}
	return p[used:]
}

// parseChunkLine parses a complete chunk-size line, LF included.
func (s *HTTP1Stream) parseChunkLine(line []byte) (uint64, *ParseError) {
	cr := bytes.IndexByte(line, '\r')
	if cr < 0 {
		return 0, errAt(CodeMalformed, len(line)-1, "http1: chunk-size line ends in a bare LF")
	}
	if cr != len(line)-2 {
		return 0, errAt(CodeMalformed, cr, "http1: CR inside chunk-size line")
	}
	body := line[:len(line)-2]
	s.excess += int64(len(body)) + 2
	for len(body) > 0 && (body[len(body)-1] == ' ' || body[len(body)-1] == '\t') {
		body = body[:len(body)-1]
	}
	if i := bytes.IndexByte(body, ';'); i >= 0 {
		body = body[:i]
	}
	if len(body) == 0 {
		return 0, errAt(CodeMalformed, 0, "http1: empty chunk size")
	}
	var n uint64
	for i, c := range body {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, errAt(CodeMalformed, i, "http1: invalid byte 0x%02x in chunk size", c)
		}
		if i == 16 {
			return 0, errAt(CodeTooLarge, i, "http1: chunk size has more than 16 hex digits")
		}
		n = n<<4 | uint64(d)
	}
	// net/http allows 16 bytes of framing per chunk plus twice the data.
	credit := int64(16)
	if n > 1<<40 {
		credit = 1 << 42
	} else {
		credit += 2 * int64(n)
	}
	s.excess = max(s.excess-credit, 0)
	if s.excess > h1MaxChunkExcess {
		return 0, errAt(CodeProtocol, 0, "http1: chunked body has too much framing overhead")
	}
	return n, nil
}

// stepTrailer reads the trailer section after the last chunk, as net/http
// does: an immediate CRLF ends it; otherwise a CRLFCRLF must appear within
// 4 KiB of the section start, and the section is then read up to its first
// empty line (which, with bare LF line ends, can come before that CRLFCRLF;
// the bytes after it are handed back in replay to be parsed as the next
// request).
func (s *HTTP1Stream) stepTrailer(p []byte) (rest, replay []byte) {
	old, took := s.bufferFrom(p, h1MaxTrailer)
	b := s.buf
	if len(b) < 2 {
		return p[took:], nil
	}
	end := 0
	if b[0] == '\r' && b[1] == '\n' {
		end = 2
	} else {
		if !bytes.Contains(b, []byte("\r\n\r\n")) {
			if len(b) >= h1MaxTrailer {
				s.stop(HTTP1StopError, errAt(CodeTooLarge, 0, "http1: trailer section longer than %d bytes", h1MaxTrailer), s.off)
			}
			return p[took:], nil
		}
		// The section is bounded by h1MaxTrailer bytes, which also bounds
		// its field count.
		scan, complete, perr := h1ScanFields(b, 0, h1MaxTrailer, "trailer", true)
		if perr != nil {
			s.stop(HTTP1StopError, perr, s.off)
			return p[took:], nil
		}
		if !complete {
			// Unreachable: a CRLFCRLF in b always ends the section.
			s.stop(HTTP1StopError, errAt(CodeMalformed, 0, "http1: unterminated trailer section"), s.off)
			return p[took:], nil
		}
		end = scan.end
	}
	if end < old {
		replay = bytes.Clone(b[end:old])
		rest = p
	} else {
		rest = p[end-old:]
	}
	s.consume(int64(end))
	s.enterHead()
	return rest, replay
}
