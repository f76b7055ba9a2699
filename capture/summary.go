package capture

import "github.com/guanaco-fp/guanaco/fingerprint"

// H2Summary is the HTTP/2 summary of a request; it is also the JSON stored
// in store.Capture.H2 by fpserver and read back by the profile builder:
//
//	{
//	  "stream_id": 1,
//	  "settings": [[1, 65536], [2, 0], ...],          first SETTINGS frame, in order
//	  "window_update": 15663105,                       connection increment before the first HEADERS, 0 if none
//	  "priority_frames": [{"stream_id", "exclusive", "depends_on", "weight"}],  before the first HEADERS
//	  "headers_priority": {"stream_id", "exclusive", "depends_on", "weight"},   this stream's HEADERS priority, absent if none
//	  "pseudo_order": [":method", ":authority", ":scheme", ":path"],           this stream's pseudo headers
//	  "akamai": "...", "akamai_hash": "..."
//	}
//
// Weights are real weights (1..256). The settings and priority shapes are
// those of emulation.Setting and emulation.Priority.
type H2Summary struct {
	StreamID        uint32                   `json:"stream_id"`
	Settings        []fingerprint.H2Setting  `json:"settings"`
	WindowUpdate    uint32                   `json:"window_update"`
	PriorityFrames  []fingerprint.H2Priority `json:"priority_frames"`
	HeadersPriority *fingerprint.H2Priority  `json:"headers_priority,omitempty"`
	PseudoOrder     []string                 `json:"pseudo_order"`
	// HPACK is the request's header block representations, one code a
	// field, comma-separated (fingerprint.HPACKCodes).
	HPACK      string `json:"hpack,omitempty"`
	Akamai     string `json:"akamai"`
	AkamaiHash string `json:"akamai_hash"`
}
