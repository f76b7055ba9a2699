package transport

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
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
