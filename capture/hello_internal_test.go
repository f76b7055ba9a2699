package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// bigHello is a ClientHello record with n cipher suites and no extensions.
func bigHello(n int) []byte {
	body := []byte{0x03, 0x03}
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session id
	body = binary.BigEndian.AppendUint16(body, uint16(2*n))
	for i := range n {
		body = binary.BigEndian.AppendUint16(body, uint16(0x0100+i))
	}
	body = append(body, 1, 0) // compression: null
	msg := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{0x16, 0x03, 0x01, byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

// helloResult is what a HelloConn holds, in comparable form.
type helloResult struct {
	raw, replay []byte
	err, ja4    string
}

// readHelloFrom runs readClientHello on a connection the client side of
// which writes in, chunk bytes at a time, then closes.
func readHelloFrom(t *testing.T, in []byte, chunk int, scratch *[helloReadSize]byte) helloResult {
	t.Helper()
	srv, cli := net.Pipe()
	go func() {
		for b := in; len(b) > 0; {
			k := min(chunk, len(b))
			if _, err := cli.Write(b[:k]); err != nil {
				return
			}
			b = b[k:]
		}
		cli.Close()
	}()
	defer srv.Close()
	_ = srv.SetDeadline(time.Now().Add(10 * time.Second))
	hc, _ := readClientHello(srv, 0, scratch)
	if scratch != nil {
		for i := range scratch {
			scratch[i] = 0xee // nothing may still point into it
		}
	}
	var res helloResult
	res.raw = bytes.Clone(hc.Raw())
	if hc.HelloErr() != nil {
		res.err = hc.HelloErr().Error()
	}
	if ch := hc.Hello(); ch != nil {
		res.ja4 = ch.Fingerprints().JA4
	}
	res.replay, _ = io.ReadAll(hc)
	return res
}

// TestReadClientHelloScratch: reading into the listener's recycled buffer
// gives what reading into a buffer of the connection's own gives, and
// keeps nothing in the recycled buffer: whole and byte-by-byte hellos,
// early data after the hello, a hello larger than the buffer, bytes that
// are not TLS, a truncated hello.
func TestReadClientHelloScratch(t *testing.T) {
	chrome, err := os.ReadFile("../fingerprint/testdata/golden/chromium.hello")
	if err != nil {
		t.Fatal(err)
	}
	big := bigHello(3000)
	cases := map[string][]byte{
		"chromium":           chrome,
		"chromium+data":      append(bytes.Clone(chrome), 0x17, 0x03, 0x03, 0x00, 0x02, 0xaa, 0xbb),
		"larger than buffer": big,
		"not TLS":            []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"truncated":          chrome[:len(chrome)/2],
	}
	for name, in := range cases {
		for _, chunk := range []int{1, 7, len(in)} {
			t.Run(fmt.Sprintf("%s/%d", name, chunk), func(t *testing.T) {
				want := readHelloFrom(t, in, chunk, nil)
				got := readHelloFrom(t, in, chunk, new([helloReadSize]byte))
				if !bytes.Equal(got.raw, want.raw) || !bytes.Equal(got.replay, want.replay) || got.err != want.err || got.ja4 != want.ja4 {
					t.Fatalf("with scratch %+v\nwithout %+v", got, want)
				}
				if !bytes.Equal(got.replay, in) {
					t.Fatalf("replayed %d bytes, want the %d written", len(got.replay), len(in))
				}
				if name != "not TLS" && name != "truncated" && (got.ja4 == "" || !bytes.Equal(got.raw, in[:len(got.raw)])) {
					t.Fatalf("hello not captured: %+v", got)
				}
			})
		}
	}
}

// FuzzReadClientHelloScratch: for any bytes a client sends, in any
// chunking, reading through the recycled buffer gives what reading into a
// buffer of the connection's own gives, and replays every byte.
func FuzzReadClientHelloScratch(f *testing.F) {
	if chrome, err := os.ReadFile("../fingerprint/testdata/golden/chromium.hello"); err == nil {
		f.Add(chrome, uint16(0))
		f.Add(chrome[:100], uint16(3))
	}
	f.Add(bigHello(2100), uint16(1000))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), uint16(1))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint16) {
		if len(in) == 0 {
			return
		}
		c := int(chunk)%len(in) + 1
		want := readHelloFrom(t, in, c, nil)
		got := readHelloFrom(t, in, c, new([helloReadSize]byte))
		if !bytes.Equal(got.raw, want.raw) || !bytes.Equal(got.replay, want.replay) || got.err != want.err || got.ja4 != want.ja4 {
			t.Fatalf("with scratch %+v\nwithout %+v", got, want)
		}
		if !bytes.Equal(got.replay, in) {
			t.Fatalf("replayed %d bytes, want the %d written", len(got.replay), len(in))
		}
	})
}
