package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// h2EncodingReport is the part of fpserver's /api/fingerprint and
// /api/echo answers this test reads.
type h2EncodingReport struct {
	HTTP struct {
		H2 *struct {
			StreamID            uint32                    `json:"stream_id"`
			FirstStreamID       uint32                    `json:"first_stream_id"`
			StreamWindowUpdates []uint32                  `json:"stream_window_updates"`
			Data                []fingerprint.H2DataFrame `json:"data"`
			HPACK               string                    `json:"hpack"`
		} `json:"h2"`
	} `json:"http"`
}

// TestH2EncodingAgainstBrowsers sends a navigation and then a fetch with a
// body on one fresh connection per built-in profile to a real fpserver and
// compares what fpserver records with what the real browsers sent when the
// profiles were captured (make profiles: chromium 156 and firefox-esr 153
// against fpserver): the first request's stream (Chromium 1, Firefox 3),
// the per-stream WINDOW_UPDATE after HEADERS (Firefox 12451840 on every
// stream, Chromium none), and the navigation's HPACK representation of
// every field (Firefox's opening table size update included). The
// navigation goes to /api/fingerprint, not /, so its :path is the one field
// whose code is replaced: a literal without indexing, as both browsers send
// any path outside the static table. The fetch body must be one DATA frame
// with END_STREAM, as both browsers sent it. It prints the table.
func TestH2EncodingAgainstBrowsers(t *testing.T) {
	srv := startFPServer(t)
	_, port, _ := net.SplitHostPort(srv.h2Addr)
	base := "https://localhost:" + port
	var table []string
	for _, name := range []string{"chromium-156-linux", "firefox-153-linux"} {
		p, err := emulation.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if p.H2 == nil || p.H2.HPACK[emulation.Navigate] == "" {
			t.Fatalf("%s: the built-in profile records no HPACK codes (run make profiles)", name)
		}
		tr := New(Options{Profile: p, RootCAs: srv.roots, NoResumption: true})
		send := func(in emulation.Initiator, method, path, body string) *h2EncodingReport {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			req, err := http.NewRequestWithContext(WithInitiator(ctx, in), method, base+path, rd)
			if err != nil {
				t.Fatal(err)
			}
			if body != "" {
				req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
				req.Header.Set("Origin", base)
				req.Header.Set("Referer", base+"/")
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("%s %s: %v", name, in, err)
			}
			defer resp.Body.Close()
			var rep h2EncodingReport
			if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || rep.HTTP.H2 == nil {
				t.Fatalf("%s %s: status %d, no HTTP/2 report: %v", name, in, resp.StatusCode, err)
			}
			return &rep
		}
		nav := send(emulation.Navigate, http.MethodGet, "/api/fingerprint", "").HTTP.H2
		fetch := send(emulation.Fetch, http.MethodPost, "/api/echo", "hello world").HTTP.H2
		tr.CloseIdleConnections()

		wantFirst := max(p.H2.FirstStreamID, 1)
		if nav.StreamID != wantFirst || nav.FirstStreamID != wantFirst || fetch.StreamID != wantFirst+2 {
			t.Errorf("%s: streams %d (first %d), %d; the browser's first stream was %d", name, nav.StreamID, nav.FirstStreamID, fetch.StreamID, wantFirst)
		}
		var wantWU []uint32
		if p.H2.StreamWindowUpdate > 0 {
			wantWU = []uint32{p.H2.StreamWindowUpdate}
		}
		if !slices.Equal(nav.StreamWindowUpdates, wantWU) || !slices.Equal(fetch.StreamWindowUpdates, wantWU) {
			t.Errorf("%s: stream WINDOW_UPDATEs %v and %v, the browser sent %v on each stream", name, nav.StreamWindowUpdates, fetch.StreamWindowUpdates, wantWU)
		}
		if want := []fingerprint.H2DataFrame{{Length: 11, EndStream: true}}; !slices.Equal(fetch.Data, want) {
			t.Errorf("%s: fetch body framed as %v, want %v", name, fetch.Data, want)
		}
		want := strings.Split(p.H2.HPACK[emulation.Navigate], ",")
		pathAt := slices.Index(p.H2.PseudoOrder, ":path")
		if len(want) > 0 && want[0] == "u" {
			pathAt++
		}
		if pathAt < 0 || pathAt >= len(want) {
			t.Fatalf("%s: no :path in the recorded codes %v", name, want)
		}
		want[pathAt] = "wh" // /api/fingerprint instead of the static "/"
		got := strings.Split(nav.HPACK, ",")
		if !slices.Equal(got, want) {
			t.Errorf("%s: navigation HPACK\n got  %s\n want %s (real browser, :path adjusted)", name, nav.HPACK, strings.Join(want, ","))
		}
		table = append(table, fmt.Sprintf("%-20s first stream %d (browser %d)  stream WINDOW_UPDATE %v (browser %v)  body DATA %v  HPACK %s",
			name, nav.StreamID, wantFirst, nav.StreamWindowUpdates, wantWU, fetch.Data, nav.HPACK))
	}
	t.Log("emulation vs real browser captures:\n" + strings.Join(table, "\n"))
}
