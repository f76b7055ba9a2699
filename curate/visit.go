package curate

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
)

// BuildVisitProfile builds an emulation profile from the stored captures of
// one page visit (navigate, fetch, xhr and form over HTTP/2 and HTTP/1.1),
// decoding the HTTP/2 summaries stored with them. The error wraps
// store.ErrNotFound when the visit has no captures and store.ErrInvalid when
// they cannot make a profile.
func BuildVisitProfile(ctx context.Context, st store.Store, key string, now time.Time) (*emulation.Profile, error) {
	rows, err := st.CapturesByVisit(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("visit %q: %w", key, store.ErrNotFound)
	}
	caps, err := VisitCaptures(rows)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	p, err := emulation.Build(key, "", caps, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	return p, nil
}

// VisitCaptures converts stored captures into the profile builder's input,
// decoding the capture.H2Summary stored with each HTTP/2 capture.
func VisitCaptures(rows []store.Capture) ([]emulation.VisitCapture, error) {
	caps := make([]emulation.VisitCapture, 0, len(rows))
	for _, r := range rows {
		vc := emulation.VisitCapture{
			ID: r.ID, CreatedAt: r.CreatedAt, Initiator: emulation.Initiator(r.Initiator),
			HTTPVersion: r.HTTPVersion, ClientHello: r.ClientHello, UserAgent: r.UserAgent,
		}
		for _, h := range r.Headers {
			vc.Headers = append(vc.Headers, fingerprint.Header{Name: h.Name, Value: h.Value})
		}
		if r.HTTPVersion == "2" && len(r.H2) > 0 {
			var h2 capture.H2Summary
			if err := json.Unmarshal(r.H2, &h2); err != nil {
				return nil, fmt.Errorf("capture %s: decoding HTTP/2 summary: %w", r.ID, err)
			}
			vc.H2 = &emulation.VisitH2{Settings: h2.Settings, WindowUpdate: h2.WindowUpdate,
				Priorities: h2.PriorityFrames, HeadersPriority: h2.HeadersPriority,
				StreamID: r.StreamID, FirstStreamID: h2.FirstStreamID,
				StreamWindowUpdates: h2.StreamWindowUpdates}
			if h2.HPACK != "" {
				vc.H2.HPACK = strings.Split(h2.HPACK, ",")
			}
		}
		if r.HTTPVersion == "3" && len(r.H2) > 0 {
			var h3 capture.H3Summary
			if err := json.Unmarshal(r.H2, &h3); err != nil {
				return nil, fmt.Errorf("capture %s: decoding HTTP/3 summary: %w", r.ID, err)
			}
			vc.H3 = &emulation.VisitH3{Settings: h3.Settings, QUICTP: r.QUICTP, QUICTPHash: r.QUICTPHash}
			var ts struct {
				QUIC *struct {
					Version string `json:"version"`
				} `json:"quic"`
			}
			if json.Unmarshal(r.TLSSummary, &ts) == nil && ts.QUIC != nil {
				vc.H3.QUICVersion = ts.QUIC.Version
			}
		}
		caps = append(caps, vc)
	}
	return caps, nil
}
