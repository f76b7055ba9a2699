package transport

import (
	"context"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/guanaco-fp/guanaco/emulation"
)

// TestH2ExclusiveDependencies: with a Chromium profile every request's
// HEADERS priority depends exclusively on the latest open stream at its own
// weight, else at the nearest higher weight, else on the root, as
// Chromium's priority tree does; a closed stream is no parent. Firefox's
// non-exclusive priorities keep the profile's dependency.
func TestH2ExclusiveDependencies(t *testing.T) {
	ca := newTestCA(t)
	type seen struct {
		id  uint32
		pri http2.PriorityParam
	}
	heads := make(chan seen, 16)
	release := make(chan uint32, 16)
	srv := startRawH2(t, ca, nil, func(c *rawConn) {
		go func() {
			for id := range release {
				_ = c.respond(id, 204, nil, nil)
			}
		}()
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				return
			}
			if h, ok := f.(*http2.MetaHeadersFrame); ok {
				heads <- seen{h.StreamID, h.Priority}
			}
		}
	})
	defer close(release)
	send := func(tr *Transport, in emulation.Initiator) (seen, <-chan error) {
		t.Helper()
		errc := make(chan error, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(WithInitiator(ctx, in), http.MethodGet, "https://localhost:"+portOf(srv.addr)+"/"+string(in), nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer cancel()
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		select {
		case s := <-heads:
			return s, errc
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no HEADERS", in)
		}
		return seen{}, errc
	}
	chromium, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	tr := New(Options{Profile: chromium, RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	weight := func(in emulation.Initiator) uint8 { return uint8(chromium.H2.HeadersPriority[in].Weight - 1) }
	// chromium-156-linux: navigate, style, font 256; script 220; image 147.
	errs := map[uint32]<-chan error{}
	step := func(in emulation.Initiator, wantParent uint32) uint32 {
		t.Helper()
		s, errc := send(tr, in)
		errs[s.id] = errc
		if !s.pri.Exclusive || s.pri.StreamDep != wantParent || s.pri.Weight != weight(in) {
			t.Errorf("%s on stream %d: priority %+v, want exclusive on %d, weight %d", in, s.id, s.pri, wantParent, weight(in))
		}
		return s.id
	}
	nav := step(emulation.Navigate, 0)
	style := step(emulation.Style, nav)     // same level: the latest, the navigation
	script := step(emulation.Script, style) // no 220 yet: the latest at 256
	image := step(emulation.Image, script)  // no 147 or 183: the latest at 220
	font := step(emulation.Font, style)     // same level as style, the latest there
	image2 := step(emulation.Image, image)  // same level as the first image
	// The navigation, style and font end: no stream is open at 256, so a
	// new stylesheet is the root's child.
	for _, id := range []uint32{nav, style, font} {
		release <- id
		if err := <-errs[id]; err != nil {
			t.Fatal(err)
		}
		delete(errs, id)
	}
	time.Sleep(50 * time.Millisecond) // the END_STREAMs are read and the streams removed
	style2 := step(emulation.Style, 0)
	step(emulation.Script, script) // its own level first: the open script, though style2 is newer
	for _, id := range []uint32{script, image, image2, style2, style2 + 2} {
		release <- id
	}
	for _, errc := range errs {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
