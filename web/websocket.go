package web

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/store"
)

// The WebSocket probe (GET or extended CONNECT /probe/ws): the page script
// opens a WebSocket to it; the handshake request is captured and stored
// with initiator "websocket", and the server sends the JSON report of that
// capture as one text message, then closes the WebSocket (RFC 6455 close
// handshake) and the connection or stream.
//
//   - HTTP/1.1: an RFC 6455 opening handshake (GET, Upgrade: websocket,
//     Connection: Upgrade, Sec-WebSocket-Version: 13, a 16-byte base64
//     Sec-WebSocket-Key) is answered 101 with Sec-WebSocket-Accept on the
//     hijacked connection.
//   - HTTP/2: an RFC 8441 extended CONNECT (:method CONNECT, :protocol
//     websocket, Sec-WebSocket-Version: 13) is answered 200 and the
//     WebSocket frames travel in the stream's DATA frames. net/http accepts
//     it only with GODEBUG http2xconnect=1 (package internal/h2xconnect);
//     without it browsers open their WebSockets over HTTP/1.1.
//
// A handshake whose Origin names another host is refused (403): a
// WebSocket is not subject to CORS, and the report carries the request's
// cookies. Everything after the handshake is bounded by
// wsProbeTimeout and wsMaxClientBytes.
const (
	// wsProbeTimeout bounds the exchange after the handshake: report,
	// close frame, and the client's close frame.
	wsProbeTimeout = 10 * time.Second
	// wsMaxClientBytes bounds what is read from the client after the
	// handshake (its frames until its close frame).
	wsMaxClientBytes = 64 << 10
	// wsGUID is RFC 6455's key suffix for Sec-WebSocket-Accept.
	wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	wsOpText  = 0x1
	wsOpClose = 0x8
)

// errWSProtocol is a frame the client must not send.
var errWSProtocol = errors.New("web: websocket: protocol error in a client frame")

// probeWebSocket serves /probe/ws.
func (h *handler) probeWebSocket(w http.ResponseWriter, r *http.Request) {
	h2 := r.ProtoMajor == 2
	switch {
	case h2 && r.Method == http.MethodConnect:
		if p := r.Header.Get(":protocol"); !strings.EqualFold(p, "websocket") {
			h.fail(w, r, badRequest("extended CONNECT for protocol %q: only websocket is served", p))
			return
		}
	case !h2 && r.Method == http.MethodGet:
		if !headerHasToken(r.Header, "Upgrade", "websocket") || !headerHasToken(r.Header, "Connection", "upgrade") {
			w.Header().Set("Upgrade", "websocket")
			h.fail(w, r, &httpError{status: http.StatusUpgradeRequired, code: codeInvalid,
				message: "a WebSocket opening handshake is expected (Upgrade: websocket, Connection: Upgrade)"})
			return
		}
	default:
		h.fail(w, r, badRequest("a WebSocket handshake is expected: GET with Upgrade over HTTP/1.1, extended CONNECT over HTTP/2"))
		return
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); strings.TrimSpace(v) != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		h.fail(w, r, &httpError{status: http.StatusUpgradeRequired, code: codeInvalid,
			message: fmt.Sprintf("Sec-WebSocket-Version %q: only 13 is served", v)})
		return
	}
	key := strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))
	if !h2 {
		if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
			h.fail(w, r, badRequest("Sec-WebSocket-Key must be 16 bytes in base64"))
			return
		}
	}
	if origin := r.Header.Get("Origin"); origin != "" && !sameOriginHost(origin, r.Host) {
		h.fail(w, r, &httpError{status: http.StatusForbidden, code: codeInvalid,
			message: "cross-origin WebSocket refused: the report carries this site's cookies"})
		return
	}

	rep := h.fingerprint(r, h.captureOf(r), store.InitiatorWebSocket, visitKeyOf(r))
	msg, err := encodeReport(rep)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if h2 {
		err = h.serveWebSocketH2(w, r, msg)
	} else {
		err = h.serveWebSocketH1(w, r, key, msg)
	}
	if err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "web: websocket probe ended early",
			slog.String("proto", r.Proto), slog.String("error", err.Error()))
	}
}

// serveWebSocketH1 completes an HTTP/1.1 handshake on the hijacked
// connection, sends msg and closes.
func (h *handler) serveWebSocketH1(w http.ResponseWriter, r *http.Request, key string, msg []byte) error {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.fail(w, r, fmt.Errorf("web: websocket: taking over the connection: %w", err))
		return nil
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(wsProbeTimeout)); err != nil {
		return err
	}
	bw := brw.Writer
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	bw.WriteString(wsAccept(key))
	bw.WriteString("\r\n\r\n")
	writeWSFrame(bw, wsOpText, msg)
	writeWSFrame(bw, wsOpClose, wsCloseNormal)
	if err := bw.Flush(); err != nil {
		return err
	}
	// The server closes the TCP connection once the close handshake is
	// done (RFC 6455 §7.1.1).
	return awaitWSClose(brw.Reader)
}

// serveWebSocketH2 answers an extended CONNECT with 200 and runs the
// WebSocket over the stream: msg, close frame, the client's close frame.
// Returning ends the stream.
func (h *handler) serveWebSocketH2(w http.ResponseWriter, r *http.Request, msg []byte) error {
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(wsProbeTimeout)
	if err := rc.SetReadDeadline(deadline); err != nil {
		return err
	}
	if err := rc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	writeWSFrame(bw, wsOpText, msg)
	writeWSFrame(bw, wsOpClose, wsCloseNormal)
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := rc.Flush(); err != nil {
		return err
	}
	return awaitWSClose(r.Body)
}

// wsCloseNormal is a close frame's payload: status 1000, no reason.
var wsCloseNormal = []byte{0x03, 0xe8}

// wsAccept is the Sec-WebSocket-Accept value for key.
func wsAccept(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// writeWSFrame writes one unmasked, final server frame.
func writeWSFrame(bw *bufio.Writer, opcode byte, payload []byte) {
	bw.WriteByte(0x80 | opcode)
	switch n := len(payload); {
	case n < 126:
		bw.WriteByte(byte(n))
	case n <= 0xffff:
		bw.WriteByte(126)
		bw.Write(binary.BigEndian.AppendUint16(nil, uint16(n)))
	default:
		bw.WriteByte(127)
		bw.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
	bw.Write(payload)
}

// awaitWSClose reads the client's frames until its close frame, at most
// wsMaxClientBytes in all. Client frames must be masked (RFC 6455 §5.1).
// io.EOF before the close frame is returned as io.ErrUnexpectedEOF.
func awaitWSClose(r io.Reader) error {
	lr := &io.LimitedReader{R: r, N: wsMaxClientBytes}
	var hdr [14]byte
	for {
		if _, err := io.ReadFull(lr, hdr[:2]); err != nil {
			return wsReadError(err, lr)
		}
		opcode, masked := hdr[0]&0x0f, hdr[1]&0x80 != 0
		if hdr[0]&0x70 != 0 || !masked {
			return errWSProtocol
		}
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(lr, hdr[2:4]); err != nil {
				return wsReadError(err, lr)
			}
			n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(lr, hdr[2:10]); err != nil {
				return wsReadError(err, lr)
			}
			n = binary.BigEndian.Uint64(hdr[2:10])
		}
		if n > uint64(lr.N) {
			return fmt.Errorf("web: websocket: client frame of %d bytes exceeds the probe's read bound", n)
		}
		// Skip the mask key and the payload: nothing the client sends
		// after the handshake is used.
		if _, err := io.CopyN(io.Discard, lr, 4+int64(n)); err != nil {
			return wsReadError(err, lr)
		}
		if opcode == wsOpClose {
			return nil
		}
	}
}

// wsReadError explains a failed read of a client frame.
func wsReadError(err error, lr *io.LimitedReader) error {
	if lr.N <= 0 {
		return fmt.Errorf("web: websocket: the client sent more than the probe's read bound (%d bytes) after the handshake", wsMaxClientBytes)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("web: websocket: reading the client's close frame: %w", err)
}

// sameOriginHost reports whether an Origin header names host (the
// request's Host, with its port when it has one).
func sameOriginHost(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

// headerHasToken reports whether a comma-separated list in any of h's name
// fields holds token (case-insensitive).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
