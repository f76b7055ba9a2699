package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// helloSink accepts TCP connections, reads each one's ClientHello (all its
// records) and closes it, handing the parsed hello to the test.
func helloSink(t *testing.T) (addr string, hellos <-chan *fingerprint.ClientHello) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan *fingerprint.ClientHello, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			var raw, body []byte
			for len(body) < 4 || len(body) < 4+int(body[1])<<16|int(body[2])<<8|int(body[3]) {
				var hdr [5]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					break
				}
				frag := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
				if _, err := io.ReadFull(c, frag); err != nil {
					break
				}
				raw = append(append(raw, hdr[:]...), frag...)
				body = append(body, frag...)
			}
			c.Close()
			if h, err := fingerprint.ParseClientHello(raw); err == nil {
				ch <- h
			}
		}
	}()
	return ln.Addr().String(), ch
}

// collectHellos opens n connections with profile p to a hello sink and
// returns the hellos it saw.
func collectHellos(t *testing.T, p *emulation.Profile, n int) []*fingerprint.ClientHello {
	t.Helper()
	addr, hellos := helloSink(t)
	var out []*fingerprint.ClientHello
	for range n {
		tr := New(Options{Profile: p})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://localhost:"+portOf(addr)+"/", nil)
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
			t.Fatal("the sink answered")
		}
		cancel()
		tr.CloseIdleConnections()
		select {
		case h := <-hellos:
			out = append(out, h)
		case <-time.After(5 * time.Second):
			t.Fatal("no hello reached the sink")
		}
	}
	return out
}

func extData(h *fingerprint.ClientHello, typ uint16) []byte {
	for _, e := range h.Extensions {
		if e.Type == typ {
			return e.Data
		}
	}
	return nil
}

// TestPerConnectionVariation checks, over 32 connections per profile, what
// real browsers draw afresh for every connection: Chromium's GREASE value in
// signature_algorithms (16 possible values: all 32 equal has probability
// 16^-31) and Firefox's GREASE ECH AEAD (AES-128-GCM or ChaCha20-Poly1305:
// each must show up; missing one has probability 2^-31).
func TestPerConnectionVariation(t *testing.T) {
	const n = 32
	chromium, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	greases := map[uint16]int{}
	for _, h := range collectHellos(t, chromium, n) {
		d := extData(h, 13)
		if len(d) < 2 {
			t.Fatal("no signature_algorithms")
		}
		found := false
		for i := 2; i+1 < len(d); i += 2 {
			v := binary.BigEndian.Uint16(d[i:])
			if v&0x0f0f == 0x0a0a && v>>8 == v&0xff {
				greases[v]++
				found = true
			}
		}
		if !found {
			t.Fatal("the signature algorithms lost their GREASE value")
		}
	}
	t.Logf("chromium signature_algorithms GREASE over %d connections: %v", n, greases)
	if len(greases) < 4 {
		t.Errorf("GREASE in signature_algorithms took %d values over %d connections", len(greases), n)
	}

	firefox, err := emulation.Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	aeads := map[string]int{}
	for _, h := range collectHellos(t, firefox, n) {
		d := extData(h, 0xfe0d)
		if len(d) < 5 || d[0] != 0 {
			t.Fatalf("no outer GREASE ECH: %x", d)
		}
		aeads[fmt.Sprintf("%04x", binary.BigEndian.Uint16(d[3:5]))]++
	}
	t.Logf("firefox GREASE ECH AEAD over %d connections: %v", n, aeads)
	if aeads["0001"] == 0 || aeads["0003"] == 0 || len(aeads) != 2 {
		t.Errorf("firefox GREASE ECH AEADs %v, want both 0001 and 0003 and nothing else", aeads)
	}
}

// keyShareData is the key_share extension's share of group g in h.
func keyShareData(h *fingerprint.ClientHello, g uint16) []byte {
	d := extData(h, 51)
	if len(d) < 2 {
		return nil
	}
	for d = d[2:]; len(d) >= 4; {
		n := int(binary.BigEndian.Uint16(d[2:]))
		if len(d) < 4+n {
			return nil
		}
		if binary.BigEndian.Uint16(d) == g {
			return d[4 : 4+n]
		}
		d = d[4+n:]
	}
	return nil
}

// TestX25519KeyReuse: real Firefox puts its X25519 share into its
// X25519MLKEM768 share (ML-KEM-768 encapsulation key, then the same 32
// bytes), real Chromium draws a separate key for the hybrid. The built-in
// profiles' hellos are real captures (make profiles) and show which; over
// 32 connections per profile the emulation must do the same on every
// connection, with fresh keys each time (no two connections share an X25519
// share).
func TestX25519KeyReuse(t *testing.T) {
	const n = 32
	for _, tc := range []struct {
		name  string
		reuse bool
	}{{"firefox-153-linux", true}, {"chromium-156-linux", false}} {
		p, err := emulation.Lookup(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		// The real browser's capture is the reference.
		captured, err := fingerprint.ParseClientHello(p.TLS.ClientHello)
		if err != nil {
			t.Fatal(err)
		}
		ch, cx := keyShareData(captured, 0x11ec), keyShareData(captured, 0x001d)
		if len(ch) != 1216 || len(cx) != 32 {
			t.Fatalf("%s: captured hello has no X25519MLKEM768 (%d bytes) and X25519 (%d bytes) shares", tc.name, len(ch), len(cx))
		}
		if got := bytes.Equal(ch[1184:], cx); got != tc.reuse {
			t.Fatalf("%s: the real browser's hello reuses its X25519 key: %v, this test expects %v", tc.name, got, tc.reuse)
		}
		if got := emulation.KeyShareX25519Reuse(p.TLS.ClientHello) == emulation.X25519Shared; got != tc.reuse {
			t.Fatalf("%s: KeyShareX25519Reuse says %v", tc.name, got)
		}
		reused, seen := 0, map[string]bool{}
		for _, h := range collectHellos(t, p, n) {
			hy, x := keyShareData(h, 0x11ec), keyShareData(h, 0x001d)
			if len(hy) != 1216 || len(x) != 32 {
				t.Fatalf("%s: emulated hello has shares of %d and %d bytes", tc.name, len(hy), len(x))
			}
			if bytes.Equal(hy[1184:], x) {
				reused++
			}
			if seen[string(x)] || bytes.Equal(x, cx) {
				t.Fatalf("%s: an X25519 share was sent twice", tc.name)
			}
			seen[string(x)] = true
		}
		t.Logf("%s: X25519 share inside X25519MLKEM768 in %d of %d connections (real browser's capture: %v)", tc.name, reused, n, tc.reuse)
		want := 0
		if tc.reuse {
			want = n
		}
		if reused != want {
			t.Errorf("%s: X25519 key reused in %d of %d connections, want %d", tc.name, reused, n, want)
		}
	}
}

// TestX25519KeyReuseHandshake: with the shared key, a Firefox profile still
// completes handshakes with servers that pick X25519MLKEM768, X25519 or
// P-256 (crypto/tls servers restricted to one group), and so does Chromium's.
func TestX25519KeyReuseHandshake(t *testing.T) {
	ca := newTestCA(t)
	for _, name := range []string{"firefox-153-linux", "chromium-156-linux"} {
		p, err := emulation.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256} {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, r.TLS.CurveID)
			}))
			srv.EnableHTTP2 = true
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t)}, NextProtos: []string{"h2"}, CurvePreferences: []tls.CurveID{g}}
			srv.StartTLS()
			tr := New(Options{Profile: p, RootCAs: ca.pool})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp, err := get(t, tr, ctx, "https://localhost:"+portOf(srv.Listener.Addr().String())+"/")
			if err != nil {
				t.Errorf("%s, server group %s: %v", name, g, err)
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != g.String() {
					t.Errorf("%s: negotiated %s, want %s", name, b, g)
				}
			}
			cancel()
			tr.CloseIdleConnections()
			srv.Close()
		}
	}
}
