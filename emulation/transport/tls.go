package transport

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	utls "github.com/refraction-networking/utls"

	"github.com/guanaco-fp/guanaco/emulation"
)

// helloRecord returns the profile's ClientHello as one TLS handshake
// record, which is what utls's Fingerprinter parses: a bare handshake
// message gets a record header, and a hello spread over several records
// has its fragments joined under the first record's header.
func helloRecord(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("transport: profile has no ClientHello")
	}
	if b[0] == 0x01 { // bare handshake message
		if len(b) > 0xffff {
			return nil, errors.New("transport: ClientHello too large for one record")
		}
		rec := make([]byte, 5, 5+len(b))
		rec[0], rec[1], rec[2] = 0x16, 0x03, 0x01
		binary.BigEndian.PutUint16(rec[3:], uint16(len(b)))
		return append(rec, b...), nil
	}
	if b[0] != 0x16 {
		return nil, fmt.Errorf("transport: ClientHello starts with 0x%02x, want a handshake record (0x16)", b[0])
	}
	var frag []byte
	var version [2]byte
	rest := b
	for i := 0; len(rest) > 0; i++ {
		if len(rest) < 5 || rest[0] != 0x16 {
			return nil, fmt.Errorf("transport: ClientHello record %d is malformed", i)
		}
		n := int(binary.BigEndian.Uint16(rest[3:5]))
		if len(rest) < 5+n {
			return nil, fmt.Errorf("transport: ClientHello record %d is truncated", i)
		}
		if i == 0 {
			version = [2]byte{rest[1], rest[2]}
			if len(rest) == 5+n {
				return b, nil // the common case: exactly one record
			}
		}
		frag = append(frag, rest[5:5+n]...)
		rest = rest[5+n:]
	}
	if len(frag) > 0xffff {
		return nil, errors.New("transport: ClientHello too large for one record")
	}
	rec := make([]byte, 5, 5+len(frag))
	rec[0], rec[1], rec[2] = 0x16, version[0], version[1]
	binary.BigEndian.PutUint16(rec[3:], uint16(len(frag)))
	return append(rec, frag...), nil
}

// helloSpec parses the profile's hello into a fresh ClientHelloSpec (a spec
// must never serve two connections). pre_shared_key is dropped; for
// shuffling (Chromium-family) profiles the GREASE ECH extension is
// replaced by BoringSSL's (fresh payload length) and the extension order
// permuted as Chromium does; Firefox's GREASE ECH picks its AEAD per
// connection; GREASE in the signature algorithms is drawn per connection. swapShares moves the second classical key
// share in front of the first (see dialTLS).
func helloSpec(p *emulation.Profile, swapShares bool) (*utls.ClientHelloSpec, error) {
	rec, err := helloRecord(p.TLS.ClientHello)
	if err != nil {
		return nil, err
	}
	spec, err := (&utls.Fingerprinter{AllowBluntMimicry: true}).FingerprintClientHello(rec)
	if err != nil {
		return nil, fmt.Errorf("transport: parsing profile %s ClientHello: %w", p.Name, err)
	}
	exts := spec.Extensions[:0]
	for _, e := range spec.Extensions {
		switch x := e.(type) {
		case utls.PreSharedKeyExtension:
			continue
		case *utls.GREASEEncryptedClientHelloExtension:
			if p.ShuffleExtensions {
				e = utls.BoringGREASEECH()
			} else if p.Browser == "firefox" || p.Browser == "tor" {
				// Firefox picks the GREASE ECH AEAD per connection: AES-128-GCM
				// or ChaCha20-Poly1305 (utls picks among the candidates).
				for _, cs := range x.CandidateCipherSuites {
					x.CandidateCipherSuites = []utls.HPKESymmetricCipherSuite{{KdfId: cs.KdfId, AeadId: 0x0001}, {KdfId: cs.KdfId, AeadId: 0x0003}}
					break
				}
			}
		case *utls.SignatureAlgorithmsExtension:
			// utls regenerates the GREASE of the other lists per connection,
			// not this one's; BoringSSL (Chromium) draws it per connection too.
			algs := slices.Clone(x.SupportedSignatureAlgorithms)
			for i, a := range algs {
				if isGREASEGroup(utls.CurveID(a)) {
					algs[i] = utls.SignatureScheme(randomGREASE())
				}
			}
			e = &utls.SignatureAlgorithmsExtension{SupportedSignatureAlgorithms: algs}
		case *utls.KeyShareExtension:
			if swapShares {
				swapClassicalShares(x.KeyShares)
			}
		}
		exts = append(exts, e)
	}
	spec.Extensions = exts
	if p.ShuffleExtensions {
		// Shuffles in place; GREASE and padding keep their positions.
		utls.ShuffleChromeTLSExtensions(spec.Extensions)
	}
	return spec, nil
}

// hybridGroups are key-share groups that carry their own X25519 share;
// utls keeps a separate key for them.
func isHybridGroup(g utls.CurveID) bool {
	return g == utls.X25519MLKEM768 || g == utls.X25519Kyber768Draft00
}

// randomGREASE is one of the 16 RFC 8701 GREASE values, drawn uniformly.
func randomGREASE() uint16 {
	var b [1]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go >= 1.24)
	v := uint16(b[0]&0xf0 | 0x0a)
	return v<<8 | v
}

func isGREASEGroup(g utls.CurveID) bool {
	return g&0x0f0f == 0x0a0a && g>>8 == g&0xff
}

// swapClassicalShares exchanges the first two classical (non-GREASE,
// non-hybrid) key shares. It reports whether there were two.
func swapClassicalShares(ks []utls.KeyShare) bool {
	first := -1
	for i := range ks {
		if isGREASEGroup(ks[i].Group) || isHybridGroup(ks[i].Group) || ks[i].Group == utls.GREASE_PLACEHOLDER {
			continue
		}
		if first < 0 {
			first = i
			continue
		}
		ks[first], ks[i] = ks[i], ks[first]
		return true
	}
	return false
}

// alpsSettings is the client's ALPS payload for h2: a sequence of HTTP/2
// frames, as Chromium sends it: one SETTINGS frame with the profile's
// settings in order.
func alpsSettings(p *emulation.Profile) []byte {
	if p.H2 == nil || len(p.H2.Settings) == 0 {
		return nil
	}
	n := 6 * len(p.H2.Settings)
	b := make([]byte, 9, 9+n)
	b[0], b[1], b[2] = byte(n>>16), byte(n>>8), byte(n)
	b[3] = 0x4 // SETTINGS, flags 0, stream 0
	for _, s := range p.H2.Settings {
		b = binary.BigEndian.AppendUint16(b, s.ID)
		b = binary.BigEndian.AppendUint32(b, s.Value)
	}
	return b
}

func hasALPS(spec *utls.ClientHelloSpec) bool {
	for _, e := range spec.Extensions {
		switch e.(type) {
		case *utls.ApplicationSettingsExtension, *utls.ApplicationSettingsExtensionNew:
			return true
		}
	}
	return false
}

// errInvalidKeyShare is utls's message for utls#402.
const errInvalidKeyShare = "invalid server key share"

// dialTLS dials addr and performs the profile's TLS handshake with SNI
// host (none for IP literals) and normal certificate verification against
// Options.RootCAs (none with Options.InsecureSkipVerify). The TCP
// connection comes from the context's dialer (WithDialer), else
// Options.DialContext.
//
// utls#402: utls keeps a private key only for the first classical key
// share, so a server that picks a hello's second classical share (Firefox
// offers X25519 and P-256) fails with "invalid server key share". Then the
// handshake is retried once on a new connection with the two classical
// shares swapped: the same groups and shares are offered, only their
// order in key_share differs (key-share order is in no fingerprint we
// compute, and the extension list is unchanged).
func (t *Transport) dialTLS(ctx context.Context, p *emulation.Profile, addr, host string) (*utls.UConn, error) {
	return t.dialTLSALPN(ctx, p, addr, host, false)
}

// dialTLSALPN is dialTLS; with h1Only the hello offers only "http/1.1"
// in ALPN (see restrictALPNToHTTP1), as browsers do for the dedicated
// connection of a WebSocket.
func (t *Transport) dialTLSALPN(ctx context.Context, p *emulation.Profile, addr, host string, h1Only bool) (*utls.UConn, error) {
	uc, err := t.handshake(ctx, p, addr, host, false, h1Only)
	if err != nil && strings.Contains(err.Error(), errInvalidKeyShare) && ctx.Err() == nil {
		t.o.Logger.Debug("transport: server picked the second classical key share; retrying with it first", "addr", addr)
		uc, err = t.handshake(ctx, p, addr, host, true, h1Only)
	}
	return uc, err
}

func (t *Transport) handshake(ctx context.Context, p *emulation.Profile, addr, host string, swapShares, h1Only bool) (*utls.UConn, error) {
	spec, err := helloSpec(p, swapShares)
	if err != nil {
		return nil, err
	}
	if h1Only {
		restrictALPNToHTTP1(spec)
	}
	_, dial := t.dialerFor(ctx)
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dialing %s: %w", addr, err)
	}
	cfg := &utls.Config{
		ServerName:   host,
		RootCAs:      t.o.RootCAs,
		OmitEmptyPsk: true,
		// nil (no resumption) or the profile's cache; the spec then ends
		// with a pre_shared_key extension, left out while no ticket is saved.
		ClientSessionCache: t.sessionCache(p, spec),
		// Only on an explicit request (Options.InsecureSkipVerify).
		InsecureSkipVerify: t.o.InsecureSkipVerify, //nolint:gosec // opt-in, emuproxy get -k

	}
	if hasALPS(spec) {
		if s := alpsSettings(p); s != nil {
			cfg.ApplicationSettings = map[string][]byte{"h2": s}
		}
	}
	uc := utls.UClient(nc, cfg, utls.HelloCustom)
	if err := uc.ApplyPreset(spec); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("transport: applying profile %s ClientHello: %w", p.Name, err)
	}
	if emulation.KeyShareX25519Reuse(p.TLS.ClientHello) == emulation.X25519Shared {
		shareX25519Key(uc)
	}
	if err := uc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("transport: TLS handshake with %s: %w", addr, err)
	}
	return uc, nil
}

// sessionCache returns p's TLS session cache and makes spec offer its saved
// tickets: a pre_shared_key extension is appended (it must be last; utls
// omits it while the cache holds no ticket for the server, OmitEmptyPsk),
// when the hello offers psk_key_exchange_modes (without them a server
// cannot resume). nil when resumption is off or the hello cannot resume.
func (t *Transport) sessionCache(p *emulation.Profile, spec *utls.ClientHelloSpec) utls.ClientSessionCache {
	if t.o.NoResumption {
		return nil
	}
	modes := false
	for _, e := range spec.Extensions {
		if _, ok := e.(*utls.PSKKeyExchangeModesExtension); ok {
			modes = true
		}
	}
	if !modes {
		return nil
	}
	spec.Extensions = append(spec.Extensions, &utls.UtlsPreSharedKeyExtension{})
	t.sessMu.Lock()
	defer t.sessMu.Unlock()
	c := t.sessions[p.Name]
	if c == nil {
		c = utls.NewLRUClientSessionCache(t.o.SessionCacheSize)
		t.sessions[p.Name] = c
	}
	return c
}

// shareX25519Key makes the hello's X25519 key share the X25519 part of its
// hybrid share, as Firefox does (one X25519 key for both; the captured hello
// shows it). utls draws a separate X25519 key for the hybrid share when
// applying the spec; that key becomes the X25519 share's too, and the
// handshake uses it whichever of the two groups the server picks. When the
// first classical share is not X25519 (the utls#402 retry puts P-256 first),
// that share keeps its own key.
func shareX25519Key(uc *utls.UConn) {
	keys := uc.HandshakeState.State13.KeyShareKeys
	if keys == nil || keys.MlkemEcdhe == nil {
		return
	}
	pub := keys.MlkemEcdhe.PublicKey().Bytes()
	for _, e := range uc.Extensions {
		ks, ok := e.(*utls.KeyShareExtension)
		if !ok {
			continue
		}
		for i := range ks.KeyShares {
			if ks.KeyShares[i].Group == utls.X25519 {
				ks.KeyShares[i].Data = slices.Clone(pub)
				if keys.Ecdhe != nil && keys.Ecdhe.Curve() == ecdh.X25519() {
					keys.Ecdhe = keys.MlkemEcdhe
				}
				return
			}
		}
	}
}

// convertState copies utls's connection state into crypto/tls's type.
func convertState(s utls.ConnectionState) tls.ConnectionState {
	return tls.ConnectionState{
		Version:                     s.Version,
		HandshakeComplete:           s.HandshakeComplete,
		DidResume:                   s.DidResume,
		CipherSuite:                 s.CipherSuite,
		NegotiatedProtocol:          s.NegotiatedProtocol,
		ServerName:                  s.ServerName,
		PeerCertificates:            s.PeerCertificates,
		VerifiedChains:              s.VerifiedChains,
		SignedCertificateTimestamps: s.SignedCertificateTimestamps,
		OCSPResponse:                s.OCSPResponse,
		TLSUnique:                   s.TLSUnique,
		ECHAccepted:                 s.ECHAccepted,
	}
}

// Interface guard: utls connections are net.Conns.
var _ net.Conn = (*utls.UConn)(nil)
