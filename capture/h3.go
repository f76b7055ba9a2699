package capture

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	h3qlog "github.com/quic-go/quic-go/http3/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/quicinitial"
)

// ProtoH3 is HTTP/3 over QUIC.
const ProtoH3 Protocol = "h3"

// QUICInfo is the QUIC side of a connection capture.
type QUICInfo struct {
	// Version is the version of the client's Initial packets
	// ("0x00000001"); Negotiated is the connection's.
	Version    uint32
	Negotiated uint32
	// Params are the client's transport parameters in wire order.
	Params []fingerprint.QUICParam
	// ParamsErr is set when the extension did not parse to its end.
	ParamsErr string
	// TP is the transport-parameters fingerprint.
	TP fingerprint.QUICTransportParamsFP
	// InitialPackets is how many Initial packets carried the hello.
	InitialPackets int
}

// H3Request is one request's header section as decoded from its HEADERS
// frame, in wire order.
type H3Request struct {
	StreamID uint64
	Pseudo   []fingerprint.Header
	Headers  []fingerprint.Header
	// fields is Pseudo followed by Headers (their common backing array).
	fields []fingerprint.Header
}

// H3Info is the HTTP/3 side of a request capture. Its slices are views of
// the connection's capture (PseudoOrder is shared with the connection's
// other requests of the same order): read them, do not modify them.
type H3Info struct {
	StreamID uint64
	// Settings are the client's SETTINGS in wire order; SettingsSeen is
	// false when the control stream's SETTINGS had not arrived (or did not
	// parse) when the request was served.
	Settings     []fingerprint.H3Setting
	SettingsSeen bool
	// UniStreams are the types of the unidirectional streams the client
	// opened, in order (0 control, 2 QPACK encoder, 3 QPACK decoder,
	// reserved types as sent).
	UniStreams []uint64
	// ControlFrames are the frame types on the control stream so far.
	ControlFrames []uint64
	// PriorityUpdates are the PRIORITY_UPDATE frames received so far on
	// the connection.
	PriorityUpdates []fingerprint.H3PriorityUpdate
	// Priority is the request's priority header ("" when absent).
	Priority string
	// PseudoOrder lists the pseudo-header names in order.
	PseudoOrder []string
}

// h3State is the HTTP/3 connection-level capture.
type h3State struct {
	ctl         fingerprint.H3Control
	ctlErr      string
	uni         []uint64
	settingsCh  chan struct{} // closed when SETTINGS parsed or the control stream ended
	settingsSet bool
	hasControl  bool
	hasEncoder  bool
	hasDecoder  bool
	// waited is set once a request waited for the SETTINGS in vain: later
	// requests of the connection do not wait again.
	waited bool
}

func (s *h3State) settingsDone() {
	if !s.settingsSet {
		s.settingsSet = true
		close(s.settingsCh)
	}
}

// H3Config configures an H3Server.
type H3Config struct {
	// TLS is the server's TLS configuration; ALPN is set to h3.
	TLS *tls.Config
	// Handler serves the requests; wrap it in Middleware.
	Handler http.Handler
	// Limits bounds Initial reassembly.
	Limits quicinitial.Limits
	// Streams bounds the per-connection pending requests (MaxPending).
	Streams StreamLimits
	// IdleTimeout closes idle HTTP/3 connections (0: none).
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's header section (0: net/http's default).
	MaxHeaderBytes int
	// SettingsWait is how long a request waits for the client's SETTINGS
	// when its HEADERS arrived first (default 100 ms).
	SettingsWait time.Duration
	// Logger receives debug lines.
	Logger *slog.Logger
	// OnConn is called for every accepted connection.
	OnConn func(*Conn)
}

// H3Server serves HTTP/3 with quic-go's http3 and captures each
// connection: the ClientHello from the client's Initial packets (a
// PacketConn feeding a quicinitial.Table), the control stream (read by the
// capture itself: SETTINGS in wire order, PRIORITY_UPDATE, stream types),
// and every request's header section in wire order (the QPACK-decoded
// field list of its HEADERS frame, taken from http3's frame tracing before
// the handler runs, not from the http.Header map).
type H3Server struct {
	cfg   H3Config
	srv   *http3.Server
	table *quicinitial.Table

	mu     sync.Mutex
	ln     *quic.Listener
	tr     *quic.Transport
	conns  map[*quic.Conn]struct{}
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// altSvc is the Alt-Svc value, built once Serve knows its port.
	altSvc atomic.Pointer[string]
	// streams is cancelled by Shutdown: no new request streams are
	// accepted; inFlight counts the requests being served.
	streams     context.Context
	stopStreams context.CancelFunc
	inFlight    atomic.Int64
}

// NewH3Server returns a server; call Serve.
func NewH3Server(cfg H3Config) *H3Server {
	if cfg.SettingsWait <= 0 {
		cfg.SettingsWait = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Streams = cfg.Streams.withDefaults()
	s := &H3Server{cfg: cfg, table: quicinitial.NewTable(cfg.Limits), conns: make(map[*quic.Conn]struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.streams, s.stopStreams = context.WithCancel(s.ctx)
	s.srv = &http3.Server{
		Handler:        cfg.Handler,
		IdleTimeout:    cfg.IdleTimeout,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		Logger:         cfg.Logger,
		ConnContext: func(ctx context.Context, qc *quic.Conn) context.Context {
			if tr, ok := qc.QlogTrace().(*h3Trace); ok {
				if c := tr.conn.Load(); c != nil {
					return ContextWithConn(ctx, c)
				}
			}
			return ctx
		},
	}
	return s
}

// Table is the server's Initial reassembly table.
func (s *H3Server) Table() *quicinitial.Table { return s.table }

// AltSvc is the Alt-Svc header value advertising this server ("" before
// Serve).
func (s *H3Server) AltSvc() string {
	if v := s.altSvc.Load(); v != nil {
		return *v
	}
	return ""
}

// Serve serves HTTP/3 on udp until Close. It returns http.ErrServerClosed
// after Close.
func (s *H3Server) Serve(udp *net.UDPConn) error {
	pc := NewPacketConn(udp, s.table)
	tr := &quic.Transport{Conn: pc}
	tlsCfg := http3.ConfigureTLSConfig(s.cfg.TLS)
	ln, err := tr.Listen(tlsCfg, &quic.Config{
		Tracer: func(_ context.Context, _ bool, odcid quic.ConnectionID) qlogwriter.Trace {
			return &h3Trace{odcid: odcid}
		},
	})
	if err != nil {
		return fmt.Errorf("capture: quic listen: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		tr.Close()
		return http.ErrServerClosed
	}
	s.ln, s.tr = ln, tr
	s.mu.Unlock()
	if ua, ok := udp.LocalAddr().(*net.UDPAddr); ok {
		v := fmt.Sprintf(`h3=":%d"; ma=86400`, ua.Port)
		s.altSvc.Store(&v)
	}
	for {
		qc, err := ln.Accept(s.ctx)
		if err != nil {
			s.mu.Lock()
			closed := s.closed // Shutdown closed the listener
			s.mu.Unlock()
			if closed || s.ctx.Err() != nil {
				return http.ErrServerClosed
			}
			return fmt.Errorf("capture: quic accept: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			qc.CloseWithError(0x100, "")
			continue
		}
		s.conns[qc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handle(qc)
			s.mu.Lock()
			delete(s.conns, qc)
			s.mu.Unlock()
		}()
	}
}

// h3ShutdownDrain is how long Shutdown lets quic-go send the last answers
// after the last request ended (see Shutdown).
const h3ShutdownDrain = 100 * time.Millisecond

// Shutdown stops accepting connections and request streams, waits until
// the requests being served are done or ctx ends, then closes as Close.
// Clients see their connections closed with H3_NO_ERROR. A request's
// handler returning does not mean its answer has left: quic-go sends stream
// data from its own loop, and closing a connection drops what is still
// queued, while it offers no way to learn when a stream's data was
// acknowledged. So after the last request ends Shutdown waits
// h3ShutdownDrain (bounded by ctx) before it closes. There is no GOAWAY: quic-go v0.65.0's NewRawServerConn opens the server's control
// stream and does not return it, RawServerConn never writes to it, and a
// second control stream is a connection error for the client.
func (s *H3Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.stopStreams()
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	var err error
	for s.inFlight.Load() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
		}
	}
	if err == nil {
		drain := time.NewTimer(h3ShutdownDrain)
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-drain.C:
		}
		drain.Stop()
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the listener and every connection (H3_NO_ERROR), then
// waits for their handlers.
func (s *H3Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cancel()
	ln, tr := s.ln, s.tr
	for qc := range s.conns {
		qc.CloseWithError(0x100, "server closed")
	}
	s.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	s.wg.Wait()
	if tr != nil {
		if cerr := tr.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// handle serves one connection: the capture is built from the hello
// table, then the request streams go to http3 and the unidirectional ones
// to the capture's own control stream reader.
func (s *H3Server) handle(qc *quic.Conn) {
	c := s.newQUICConn(qc)
	if s.cfg.OnConn != nil {
		s.cfg.OnConn(c)
	}
	raw, err := s.srv.NewRawServerConn(qc)
	if err != nil {
		qc.CloseWithError(0x102, "")
		return
	}
	ctx := qc.Context()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			str, err := qc.AcceptUniStream(ctx)
			if err != nil {
				return
			}
			wg.Go(func() { c.uniStream(qc, str) })
		}
	})
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	context.AfterFunc(s.streams, stop)
	for {
		str, err := qc.AcceptStream(sctx)
		if err != nil {
			break
		}
		s.inFlight.Add(1)
		wg.Go(func() {
			defer s.inFlight.Add(-1)
			raw.HandleRequestStream(str)
		})
	}
	c.h3mu.Lock()
	c.h3.settingsDone()
	c.h3mu.Unlock()
	wg.Wait()
}

// newQUICConn builds the connection capture of an accepted connection.
func (s *H3Server) newQUICConn(qc *quic.Conn) *Conn {
	c := newConn(quicNetConn{qc}, nil, ProtoH3, time.Now(), s.cfg.Streams)
	c.h3 = &h3State{settingsCh: make(chan struct{})}
	c.settingsWait = s.cfg.SettingsWait
	tr, _ := qc.QlogTrace().(*h3Trace)
	if tr != nil {
		tr.conn.Store(c)
		if qh, ok := s.table.Take(c.remote, tr.odcid.Bytes()); ok {
			state := qc.ConnectionState()
			c.quic = &QUICInfo{Version: qh.Version, Negotiated: uint32(state.Version), InitialPackets: qh.Packets}
			if qh.Hello != nil {
				c.tlsInfo = &TLSInfo{Raw: qh.Raw, Hello: qh.Hello, Fingerprints: qh.Hello.Fingerprints(), State: state.TLS}
				params, err := qh.Hello.QUICTransportParams()
				c.quic.Params = params
				if err != nil {
					c.quic.ParamsErr = err.Error()
				}
				c.quic.TP = fingerprint.QUICTransportParamsFingerprint(params)
			}
		}
	}
	return c
}

// QUIC returns the QUIC capture of an HTTP/3 connection (nil otherwise, or
// when the hello was not captured).
func (c *Conn) QUIC() *QUICInfo { return c.quic }

// uniStream reads one client unidirectional stream (RFC 9114 §6.2): the
// control stream is parsed here, QPACK streams are left unread as http3
// does (its QPACK has no dynamic table), push streams are refused and
// reserved or unknown types are cancelled.
func (c *Conn) uniStream(qc *quic.Conn, str *quic.ReceiveStream) {
	str.ReleaseStreamCredit()
	typ, err := quicvarint.Read(quicvarint.NewReader(str))
	if err != nil {
		return
	}
	c.h3mu.Lock()
	h := c.h3
	if len(h.uni) < 16 {
		h.uni = append(h.uni, typ)
	}
	dup := false
	switch typ {
	case 0x00:
		dup, h.hasControl = h.hasControl, true
	case 0x02:
		dup, h.hasEncoder = h.hasEncoder, true
	case 0x03:
		dup, h.hasDecoder = h.hasDecoder, true
	}
	c.h3mu.Unlock()
	switch {
	case dup:
		qc.CloseWithError(0x103, "duplicate critical stream") // H3_STREAM_CREATION_ERROR
		return
	case typ == 0x01:
		qc.CloseWithError(0x103, "push stream from a client")
		return
	case typ == 0x02 || typ == 0x03:
		return
	case typ != 0x00:
		str.CancelRead(0x103)
		return
	}
	buf := make([]byte, 2048)
	for {
		n, err := str.Read(buf)
		if n > 0 {
			c.h3mu.Lock()
			ferr := h.ctl.Feed(buf[:n])
			if h.ctl.SettingsSeen() || ferr != nil {
				h.settingsDone()
			}
			if ferr != nil {
				h.ctlErr = ferr.Error()
			}
			c.h3mu.Unlock()
			var he *fingerprint.H3Error
			if errors.As(ferr, &he) {
				qc.CloseWithError(quic.ApplicationErrorCode(he.Code), "")
				return
			}
		}
		if err != nil {
			c.h3mu.Lock()
			h.settingsDone()
			c.h3mu.Unlock()
			if errors.Is(err, io.EOF) || qc.Context().Err() == nil {
				qc.CloseWithError(0x104, "control stream closed") // H3_CLOSED_CRITICAL_STREAM
			}
			return
		}
	}
}

// h3Pending is a queued HTTP/3 header section and its queue entry, one
// allocation.
type h3Pending struct {
	pr  parsedRequest
	req H3Request
}

// addH3Request queues a decoded header section for its handler. The
// fields are copied into one slice (Pseudo and Headers are its two parts;
// the strings are quic-go's, which it does not reuse) and the request and
// its queue entry share one allocation.
func (c *Conn) addH3Request(streamID uint64, fields []h3qlog.HeaderField) {
	if len(fields) == 0 || !strings.HasPrefix(fields[0].Name, ":") {
		return // trailers
	}
	hs := make([]fingerprint.Header, len(fields))
	k := len(fields)
	for i, f := range fields {
		hs[i] = fingerprint.Header{Name: f.Name, Value: f.Value}
		if k == len(fields) && !strings.HasPrefix(f.Name, ":") {
			k = i
		}
	}
	e := &h3Pending{req: H3Request{StreamID: streamID, Pseudo: hs[:k:k], Headers: hs[k:], fields: hs}}
	e.pr.h3 = &e.req
	c.mu.Lock()
	c.enqueue(&e.pr)
	c.mu.Unlock()
}

// h3Snapshot returns the connection-level HTTP/3 capture, waiting up to
// settingsWait for the client's SETTINGS (once per connection).
func (c *Conn) h3Snapshot() H3Info {
	c.h3mu.Lock()
	ch, waited := c.h3.settingsCh, c.h3.waited
	c.h3mu.Unlock()
	select {
	case <-ch:
	default:
		if !waited {
			t := time.NewTimer(c.settingsWait)
			select {
			case <-ch:
			case <-t.C:
			}
			t.Stop()
		}
	}
	c.h3mu.Lock()
	defer c.h3mu.Unlock()
	h := c.h3
	if !h.settingsSet {
		h.waited = true
	}
	// The connection's lists are only appended to (Settings is set once),
	// so each request gets a view of their current length instead of a
	// copy: later appends land beyond it or in a new array.
	return H3Info{
		Settings:        clip(h.ctl.Settings),
		SettingsSeen:    h.ctl.SettingsSeen(),
		UniStreams:      clip(h.uni),
		ControlFrames:   clip(h.ctl.Frames),
		PriorityUpdates: clip(h.ctl.PriorityUpdates),
	}
}

// clip returns s with its capacity cut to its length (nil stays nil), so
// an append by a reader cannot write into the owner's array.
func clip[T any](s []T) []T { return s[:len(s):len(s)] }

// h3Trace is the quic-go trace of one server connection. Its first
// producer is the QUIC connection itself (created before anything else
// can ask): it gets no recorder, so quic-go builds no per-packet events.
// Later producers are http3's: their HEADERS events carry each request's
// decoded field list in wire order.
type h3Trace struct {
	odcid quic.ConnectionID
	conn  atomic.Pointer[Conn]
	first atomic.Bool
}

var _ qlogwriter.Trace = (*h3Trace)(nil)

// AddProducer implements qlogwriter.Trace.
func (t *h3Trace) AddProducer() qlogwriter.Recorder {
	if t.first.CompareAndSwap(false, true) {
		return nil
	}
	return h3Recorder{t}
}

type h3Recorder struct{ t *h3Trace }

// RecordEvent implements qlogwriter.Recorder.
func (r h3Recorder) RecordEvent(ev qlogwriter.Event) {
	fp, ok := ev.(h3qlog.FrameParsed)
	if !ok {
		return
	}
	hf, ok := fp.Frame.Frame.(h3qlog.HeadersFrame)
	if !ok {
		return
	}
	if c := r.t.conn.Load(); c != nil {
		c.addH3Request(uint64(fp.StreamID), hf.HeaderFields)
	}
}

// Close implements qlogwriter.Recorder.
func (h3Recorder) Close() error { return nil }

// quicNetConn gives a QUIC connection the net.Conn face Conn embeds: the
// addresses and Close; there is no byte stream to read or write.
type quicNetConn struct{ qc *quic.Conn }

var errNoStream = errors.New("capture: a QUIC connection has no byte stream")

func (q quicNetConn) Read([]byte) (int, error)         { return 0, errNoStream }
func (q quicNetConn) Write([]byte) (int, error)        { return 0, errNoStream }
func (q quicNetConn) Close() error                     { return q.qc.CloseWithError(0x100, "") }
func (q quicNetConn) LocalAddr() net.Addr              { return q.qc.LocalAddr() }
func (q quicNetConn) RemoteAddr() net.Addr             { return q.qc.RemoteAddr() }
func (q quicNetConn) SetDeadline(time.Time) error      { return nil }
func (q quicNetConn) SetReadDeadline(time.Time) error  { return nil }
func (q quicNetConn) SetWriteDeadline(time.Time) error { return nil }
