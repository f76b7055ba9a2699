package capture_test

import (
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/capture"
)

// TestHandshakeAdmissionPerClient: one address (127.0.0.1) opens many
// silent connections on a TLS listener with 8 handshake slots. Beyond its
// per-client share they are closed at once, so a visitor from another
// address (127.0.0.2) is served at once instead of waiting for the 30 s
// handshake timeout of the silent ones.
func TestHandshakeAdmissionPerClient(t *testing.T) {
	ts := startServer(t, true, func(c *capture.Config) {
		c.HandshakeTimeout = 30 * time.Second
		c.MaxPendingHandshakes = 8
		c.MaxPendingPerClient = 2
	})
	var silent []net.Conn
	t.Cleanup(func() {
		for _, c := range silent {
			c.Close()
		}
	})
	for range 20 {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
	}

	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: clientTLS("http/1.1"),
		TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + ts.addr + "/")
	if err != nil {
		t.Fatalf("visitor from another address not served while one address holds silent handshakes: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	// The excess silent connections were closed by the server: a read
	// ends with EOF, not with the client's deadline.
	closed := 0
	for _, c := range silent {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if closed < 20-2 {
		t.Errorf("%d of 20 silent connections closed; want at least 18", closed)
	}
	if !slices.Contains(ts.failures(), capture.ReasonClientCap) {
		t.Errorf("handshake failures %v; want %q", ts.failures(), capture.ReasonClientCap)
	}
}

// TestHandshakePressureDeadline: with half of the slots taken, a new
// silent connection gets PressureTimeout instead of HandshakeTimeout.
func TestHandshakePressureDeadline(t *testing.T) {
	ts := startServer(t, true, func(c *capture.Config) {
		c.HandshakeTimeout = 30 * time.Second
		c.PressureTimeout = 200 * time.Millisecond
		c.MaxPendingHandshakes = 4
		c.MaxPendingPerClient = 4
		c.ReservedForNew = 1
	})
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range 3 {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// At least one of the three was admitted with two others pending
	// (half of 4): the server times it out long before 30 s.
	eof := make(chan bool, len(conns))
	for _, c := range conns {
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Read(make([]byte, 1))
			eof <- err == io.EOF
		}()
	}
	var timedOut bool
	for range conns {
		if timedOut = <-eof; timedOut {
			break
		}
	}
	if !timedOut {
		t.Fatal("no pending handshake was cut short under pressure")
	}
}
