package capture_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/quicinitial"
)

// goQUICHello is quicinitial.GoClientHello, failing t on error.
func goQUICHello(t testing.TB, scid []byte, pq bool) []byte {
	t.Helper()
	h, err := quicinitial.GoClientHello(scid, pq)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func seal(t testing.TB, dcid []byte, pn uint32, frames []byte, minLen int) []byte {
	t.Helper()
	p, err := quicinitial.SealClient(quicinitial.V1, dcid, []byte{0xcc}, nil, pn, frames, minLen)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// bigCert is a certificate with enough names to make the server's first
// flight several times longer than one Initial datagram.
func bigCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"localhost"}
	for i := 0; i < 300; i++ {
		names = append(names, fmt.Sprintf("name-%03d.amplification.example", i))
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// amplificationBytes sends one 1200-byte client Initial (a complete hello)
// to the server serve starts and never answers; it returns the bytes the
// server sent back in 3 s (its first flight and retransmissions).
func amplificationBytes(t *testing.T, serve func(*net.UDPConn) func()) (sent, received int) {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	stop := serve(udp)
	defer stop()
	cl, err := net.DialUDP("udp", nil, udp.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pkt := seal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8}, 0, quicinitial.CryptoFrame(0, goQUICHello(t, []byte{0xcc}, false)), 1200)
	if _, err := cl.Write(pkt); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	deadline := time.Now().Add(3 * time.Second) // covers the first retransmissions
	for {
		_ = cl.SetReadDeadline(deadline)
		n, err := cl.Read(buf)
		if err != nil {
			break
		}
		received += n
	}
	return len(pkt), received
}

// TestH3AmplificationLimit: a client that sends one 1200-byte Initial and
// never answers gets exactly as many bytes back from the capturing server
// as from a plain quic-go http3 server, although the server's flight (a
// large certificate) is far longer: the capture wrapper leaves quic-go's
// anti-amplification limit (RFC 9000 §8.1) as it is. quic-go checks the
// limit before each packet, so it may overshoot 3x by less than one packet
// (it sends 3 x 1280 bytes for 1200 received); the test allows that and no
// more.
func TestH3AmplificationLimit(t *testing.T) {
	cert := bigCert(t)
	if len(cert.Certificate[0]) < 8000 {
		t.Fatalf("certificate of %d bytes", len(cert.Certificate[0]))
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	var table *quicinitial.Table
	sent, captured := amplificationBytes(t, func(udp *net.UDPConn) func() {
		srv := capture.NewH3Server(capture.H3Config{TLS: tlsCfg, Handler: http.NotFoundHandler()})
		table = srv.Table()
		go func() { _ = srv.Serve(udp) }()
		return func() { srv.Close() }
	})
	_, plain := amplificationBytes(t, func(udp *net.UDPConn) func() {
		srv := &http3.Server{TLSConfig: tlsCfg, Handler: http.NotFoundHandler()}
		go func() { _ = srv.Serve(udp) }()
		return func() { srv.Close() }
	})
	t.Logf("sent %d bytes; capturing server answered %d, plain quic-go %d", sent, captured, plain)
	if plain <= sent {
		t.Fatal("the plain server's answer is not limited by amplification: the test proves nothing")
	}
	if captured != plain {
		t.Errorf("capturing server sent %d bytes, plain quic-go %d", captured, plain)
	}
	const maxPacket = 1280 // quic-go's initial packet size
	if captured >= 3*sent+maxPacket {
		t.Errorf("received %d bytes for %d sent before address validation", captured, sent)
	}
	if st := table.Stats(); st.Hellos != 1 {
		t.Errorf("table stats %+v", st)
	}
}

// TestH3FloodKeepsServing: Initials with never-completing hellos from many
// source ports, then a real client: it is served and captured.
func TestH3FloodKeepsServing(t *testing.T) {
	srv, addr, got := startH3(t)
	hello := goQUICHello(t, []byte{1}, true)
	part := quicinitial.CryptoFrame(0, hello[:900])
	ua, _ := net.ResolveUDPAddr("udp", addr)
	for i := 0; i < 300; i++ {
		c, err := net.DialUDP("udp", nil, ua)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(seal(t, []byte{byte(i), byte(i >> 8), 3, 4, 5, 6, 7, 8}, 0, part, 1200))
		c.Close()
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond) // stay within the socket buffer
		}
	}
	// UDP may drop some under load; most must arrive.
	waitUntil(t, func() bool { return srv.Table().Stats().Initials >= 200 })
	tr := &http3.Transport{TLSClientConfig: h3ClientTLS()}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	rc := <-got
	if rc.TLS == nil || rc.QUIC == nil || !rc.Matched {
		t.Errorf("capture after the flood: %+v", rc)
	}
	if n := srv.Table().Len(); n > 1024 {
		t.Errorf("%d table entries", n)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5s")
}
