package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	utls "github.com/refraction-networking/utls"

	"github.com/guanaco-fp/guanaco/emulation"
)

// IsWebSocketUpgrade reports whether req is a WebSocket opening handshake
// (RFC 6455 §4.1): an Upgrade header naming "websocket" and a Connection
// header listing "upgrade", both case-insensitive.
func IsWebSocketUpgrade(req *http.Request) bool {
	return headerHasToken(req.Header, "Upgrade", "websocket") && headerHasToken(req.Header, "Connection", "upgrade")
}

// headerHasToken reports whether a comma-separated list in any of h's
// name fields holds token (case-insensitive; an Upgrade token's
// "/version" suffix is ignored).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if i := strings.IndexByte(t, '/'); i >= 0 {
				t = t[:i]
			}
			if strings.EqualFold(t, token) {
				return true
			}
		}
	}
	return false
}

// roundTripUpgrade sends a WebSocket handshake on a new, unpooled
// HTTP/1.1 connection (see RoundTrip). Its initiator is websocket,
// whatever the context said: the headers follow the profile's websocket
// list (navigate for profiles without one, see
// emulation.RequestHeadersFor).
func (t *Transport) roundTripUpgrade(req *http.Request, p *emulation.Profile, key poolKey, host string) (*http.Response, error) {
	if in, _ := InitiatorFromContext(req.Context()); in != emulation.WebSocket {
		req = req.WithContext(WithInitiator(req.Context(), emulation.WebSocket))
	}
	c, err := t.dialUpgrade(req.Context(), p, key, host)
	if err != nil {
		return nil, err
	}
	return c.roundTrip(req, p)
}

// dialUpgrade opens the dedicated connection of a WebSocket: plain TCP for
// http, else the profile's TLS handshake with ALPN restricted to
// "http/1.1". Browsers open WebSockets on a connection of their own whose
// hello offers only http/1.1; everything else in the hello is the
// profile's. The connection has no pool: it is closed after a non-101
// response and handed to the caller after a 101.
func (t *Transport) dialUpgrade(ctx context.Context, p *emulation.Profile, key poolKey, host string) (*h1Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, t.o.TLSHandshakeTimeout)
	defer cancel()
	if key.scheme == "http" {
		_, dial := t.dialerFor(ctx)
		nc, err := dial(dctx, "tcp", key.addr)
		if err != nil {
			return nil, fmt.Errorf("transport: dialing %s: %w", key.addr, err)
		}
		c := newH1Conn(t, nc, nil)
		c.upgrade = true
		return c, nil
	}
	uc, err := t.dialTLSALPN(dctx, p, key.addr, host, true)
	if err != nil {
		return nil, err
	}
	state := convertState(uc.ConnectionState())
	if state.NegotiatedProtocol != "" && state.NegotiatedProtocol != "http/1.1" {
		_ = uc.Close()
		return nil, fmt.Errorf("transport: %s negotiated ALPN %q for a WebSocket; only http/1.1 was offered", key.addr, state.NegotiatedProtocol)
	}
	t.o.Logger.Debug("transport: connected for a WebSocket", "addr", key.addr, "profile", p.Name)
	c := newH1Conn(t, uc, &state)
	c.upgrade = true
	return c, nil
}

// restrictALPNToHTTP1 makes spec's ALPN extension offer only "http/1.1"
// and drops ALPS (application_settings), which BoringSSL sends only for
// protocols in the ALPN list, and Chromium configures only for h2. A
// spec without ALPN is left without it.
func restrictALPNToHTTP1(spec *utls.ClientHelloSpec) {
	exts := spec.Extensions[:0]
	for _, e := range spec.Extensions {
		switch x := e.(type) {
		case *utls.ALPNExtension:
			x.AlpnProtocols = []string{"http/1.1"}
		case *utls.ApplicationSettingsExtension, *utls.ApplicationSettingsExtensionNew:
			continue
		}
		exts = append(exts, e)
	}
	spec.Extensions = exts
}

// upgradeBody is the Body of a 101 response: the raw connection after the
// response head. Reads drain the bytes already buffered behind the head,
// then read the connection; writes go straight to the connection.
type upgradeBody struct {
	br *bufio.Reader
	nc net.Conn

	once sync.Once
	err  error
}

var _ io.ReadWriteCloser = (*upgradeBody)(nil)

func (b *upgradeBody) Read(p []byte) (int, error) { return b.br.Read(p) }

func (b *upgradeBody) Write(p []byte) (int, error) { return b.nc.Write(p) }

// Close closes the connection; later calls return the first result.
func (b *upgradeBody) Close() error {
	b.once.Do(func() {
		b.err = b.nc.Close()
		if errors.Is(b.err, net.ErrClosed) {
			b.err = nil
		}
	})
	return b.err
}
