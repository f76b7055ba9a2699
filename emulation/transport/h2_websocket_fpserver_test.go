package transport

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
)

// TestExtendedConnectAgainstFPServer opens fpserver's WebSocket probe
// through each real-browser profile after a navigation, as the page does:
// fpserver (which enables extended CONNECT) records an HTTP/2 CONNECT with
// initiator websocket in the navigation's visit (the gv cookie), the
// pseudo headers in the profile's order then :protocol, the profile's
// websocket header list (names and values, caller-only slots filled by
// the caller), and the profile's websocket HEADERS weight.
func TestExtendedConnectAgainstFPServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the fpserver binary")
	}
	s := startFPServer(t)
	_, port, _ := net.SplitHostPort(s.h2Addr)
	base := "https://localhost:" + port
	for _, name := range []string{"chromium-156-linux", "firefox-153-linux"} {
		t.Run(name, func(t *testing.T) {
			p, err := emulation.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			tr := New(Options{Profile: p, RootCAs: s.roots, NoResumption: true})
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			const visit = "0123456789abcdef0123456789abcdef"
			nav, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
			nav.Header.Set("Cookie", "gv="+visit)
			resp, err := tr.RoundTrip(nav)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()

			req := wsRequest(t, ctx, base+"/probe/ws")
			req.Header.Set("Origin", base)
			req.Header.Set("Cookie", "gv="+visit)
			req.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
			resp, err = tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d %s: %.300s", resp.StatusCode, resp.Proto, b)
			}
			ws := resp.Body.(io.ReadWriteCloser)
			var hdr [10]byte
			if _, err := io.ReadFull(ws, hdr[:2]); err != nil {
				t.Fatal(err)
			}
			n := int(hdr[1] & 0x7f)
			switch n {
			case 126:
				_, _ = io.ReadFull(ws, hdr[:2])
				n = int(binary.BigEndian.Uint16(hdr[:2]))
			case 127:
				_, _ = io.ReadFull(ws, hdr[:8])
				n = int(binary.BigEndian.Uint64(hdr[:8]))
			}
			msg := make([]byte, n)
			if _, err := io.ReadFull(ws, msg); err != nil {
				t.Fatal(err)
			}
			var rep struct {
				Initiator string `json:"initiator"`
				Method    string `json:"method"`
				Stored    string `json:"stored"`
				VisitKey  string `json:"visit_key"`
				fpReport
			}
			if err := json.Unmarshal(msg, &rep); err != nil {
				t.Fatalf("report: %v: %.300s", err, msg)
			}
			// A masked close frame (1000) from the client.
			_, _ = ws.Write([]byte{0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2})
			if rep.Initiator != "websocket" || rep.Method != "CONNECT" || rep.HTTP.Version != "2" {
				t.Errorf("recorded %s %s over HTTP/%s", rep.Initiator, rep.Method, rep.HTTP.Version)
			}
			var pseudo []string
			var got []emulation.Header
			for _, h := range rep.HTTP.Headers {
				if strings.HasPrefix(h[0], ":") {
					pseudo = append(pseudo, h[0])
					continue
				}
				got = append(got, emulation.Header{Name: h[0], Value: h[1]})
			}
			if want := append(slices.Clone(p.H2.PseudoOrder), ":protocol"); !slices.Equal(pseudo, want) {
				t.Errorf("pseudo %q, want %q", pseudo, want)
			}
			var want []emulation.Header
			for _, h := range p.H2.Headers[emulation.WebSocket] {
				switch h.Name {
				case "origin":
					h.Value = base
				case "cookie":
					h.Value = "gv=" + visit
				case "sec-websocket-extensions":
					h.Value = "permessage-deflate; client_max_window_bits"
				}
				want = append(want, h)
			}
			if !slices.Equal(got, want) {
				t.Errorf("recorded list\n got %v\nwant %v", got, want)
			}
			if pr := rep.HTTP.H2.HeadersPriority; pr == nil || int(pr.Weight) != int(p.H2.HeadersPriority[emulation.WebSocket].Weight) {
				t.Errorf("HEADERS priority %+v, want %+v", pr, p.H2.HeadersPriority[emulation.WebSocket])
			}
			t.Logf("%s: stored %q, report %s", name, rep.Stored, strings.Join(pseudo, ","))
		})
	}
}
