package curate

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
)

// TestBuildVisitProfileSubresources: a stored visit with a capture per
// sub-resource destination gives a profile with each destination's list
// and HEADERS priority, on both backends.
func TestBuildVisitProfileSubresources(t *testing.T) { backends(t, testBuildVisitProfileSubresources) }

func testBuildVisitProfileSubresources(t *testing.T, st store.Store) {
	chromium := catalogue(t, "chromium-156-linux")
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ins := append([]emulation.Initiator{emulation.Navigate}, emulation.Subresources()...)
	var caps []emulation.VisitCapture
	for i, in := range ins {
		if len(chromium.H2.Headers[in]) == 0 {
			t.Fatalf("the built-in chromium profile has no h2 %s list", in)
		}
		hs := []fingerprint.Header{}
		for _, ps := range chromium.H2.PseudoOrder {
			hs = append(hs, fingerprint.Header{Name: ps, Value: "x"})
		}
		hs = append(hs, chromium.H2.Headers[in]...)
		pr := chromium.H2.HeadersPriority[in]
		pr.StreamID = uint32(1 + 2*i)
		caps = append(caps, emulation.VisitCapture{
			CreatedAt: at.Add(time.Duration(i) * time.Millisecond), Initiator: in, HTTPVersion: "2",
			ClientHello: chromium.TLS.ClientHello, UserAgent: chromium.UserAgent, Headers: hs,
			H2: &emulation.VisitH2{Settings: chromium.H2.Settings, WindowUpdate: chromium.H2.WindowUpdate, HeadersPriority: &pr},
		})
	}
	storeVisit(t, st, "subres", "198.51.100.0/24", caps)
	p, err := BuildVisitProfile(context.Background(), st, "subres", at)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range emulation.Subresources() {
		got, want := p.H2.Headers[in], chromium.H2.Headers[in]
		if !slices.Equal(got, want) {
			t.Errorf("%s list\n got %v\nwant %v", in, got, want)
		}
		if p.H2.HeadersPriority[in] != chromium.H2.HeadersPriority[in] {
			t.Errorf("%s priority %+v, want %+v", in, p.H2.HeadersPriority[in], chromium.H2.HeadersPriority[in])
		}
	}
}
