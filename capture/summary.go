package capture

import "github.com/guanaco-fp/guanaco/fingerprint"

// H2Summary is the HTTP/2 summary of a request; it is also the JSON stored
// in store.Capture.H2 by fpserver and read back by the profile builder:
//
//	{
//	  "stream_id": 1,
//	  "first_stream_id": 1,                            the stream of the connection's first request
//	  "settings": [[1, 65536], [2, 0], ...],          first SETTINGS frame, in order
//	  "window_update": 15663105,                       connection increment before the first HEADERS, 0 if none
//	  "priority_frames": [{"stream_id", "exclusive", "depends_on", "weight"}],  before the first HEADERS
//	  "headers_priority": {"stream_id", "exclusive", "depends_on", "weight"},   this stream's HEADERS priority, absent if none
//	  "pseudo_order": [":method", ":authority", ":scheme", ":path"],           this stream's pseudo headers
//	  "stream_window_updates": [12451840],              WINDOW_UPDATE increments on this stream, in order
//	  "data": [{"length": 5, "end_stream": true}],     this stream's DATA frames (body framing)
//	  "akamai": "...", "akamai_hash": "..."
//	}
//
// Weights are real weights (1..256). The settings and priority shapes are
// those of emulation.Setting and emulation.Priority.
type H2Summary struct {
	StreamID uint32 `json:"stream_id"`
	// FirstStreamID is the stream of the connection's first request
	// (Chromium 1, Firefox 3); 0 when unknown.
	FirstStreamID   uint32                   `json:"first_stream_id,omitempty"`
	Settings        []fingerprint.H2Setting  `json:"settings"`
	WindowUpdate    uint32                   `json:"window_update"`
	PriorityFrames  []fingerprint.H2Priority `json:"priority_frames"`
	HeadersPriority *fingerprint.H2Priority  `json:"headers_priority,omitempty"`
	PseudoOrder     []string                 `json:"pseudo_order"`
	// HPACK is the request's header block representations, one code a
	// field, comma-separated (fingerprint.HPACKCodes).
	HPACK string `json:"hpack,omitempty"`
	// StreamWindowUpdates are the WINDOW_UPDATE increments the client sent
	// on this stream (Firefox: one after HEADERS), seen by the time the
	// handler built the capture.
	StreamWindowUpdates []uint32 `json:"stream_window_updates,omitempty"`
	// Data is the request body's DATA framing, seen by the time the
	// handler built the capture (probes read the whole body first).
	Data       []fingerprint.H2DataFrame `json:"data,omitempty"`
	Akamai     string                    `json:"akamai"`
	AkamaiHash string                    `json:"akamai_hash"`
}

// H3Summary is the HTTP/3 summary of a request; it is also the request's
// protocol document fpserver stores for HTTP/3 requests (store.Capture.H2
// with HTTPVersion "3", stream_id removed and kept in its own column):
//
//	{
//	  "stream_id": 0,
//	  "settings": [{"id": 1, "name": "SETTINGS_QPACK_MAX_TABLE_CAPACITY", "value": 65536}, ...],  wire order
//	  "settings_seen": true,               false when no SETTINGS had arrived when the request was served
//	  "uni_streams": [0, 2, 3, 33],       the client's unidirectional stream types, in order
//	  "control_frames": [4, 983296],      frame types on the control stream so far
//	  "priority_updates": [{"element_id": 0, "priority": "u=0, i"}],
//	  "priority": "u=0, i",               the request's priority header
//	  "pseudo_order": [":method", ":authority", ":scheme", ":path"]
//	}
type H3Summary struct {
	StreamID        uint64                         `json:"stream_id"`
	Settings        []fingerprint.H3Setting        `json:"settings"`
	SettingsSeen    bool                           `json:"settings_seen"`
	UniStreams      []uint64                       `json:"uni_streams"`
	ControlFrames   []uint64                       `json:"control_frames"`
	PriorityUpdates []fingerprint.H3PriorityUpdate `json:"priority_updates"`
	Priority        string                         `json:"priority"`
	PseudoOrder     []string                       `json:"pseudo_order"`
}

// NewH3Summary summarises the HTTP/3 side of a request capture.
func NewH3Summary(h *H3Info) *H3Summary {
	s := H3Summary(*h) // the same fields; H3Summary adds the JSON names
	s.Normalize()
	return &s
}

// Normalize makes nil lists empty, so they encode as [].
func (s *H3Summary) Normalize() {
	if s.Settings == nil {
		s.Settings = []fingerprint.H3Setting{}
	}
	if s.UniStreams == nil {
		s.UniStreams = []uint64{}
	}
	if s.ControlFrames == nil {
		s.ControlFrames = []uint64{}
	}
	if s.PriorityUpdates == nil {
		s.PriorityUpdates = []fingerprint.H3PriorityUpdate{}
	}
	if s.PseudoOrder == nil {
		s.PseudoOrder = []string{}
	}
}
