package fingerprint

import (
	"fmt"
)

// HTTP/3 frame types (RFC 9114 §7.2, RFC 9218 §7.2).
const (
	H3FrameData               = 0x00
	H3FrameHeaders            = 0x01
	H3FrameCancelPush         = 0x03
	H3FrameSettings           = 0x04
	H3FramePushPromise        = 0x05
	H3FrameGoAway             = 0x07
	H3FrameMaxPushID          = 0x0d
	H3FramePriorityUpdate     = 0xf0700
	H3FramePriorityUpdatePush = 0xf0701
)

// H3MaxControlFrame bounds one frame on the control stream: SETTINGS,
// PRIORITY_UPDATE and GOAWAY frames are a few dozen bytes.
const H3MaxControlFrame = 16 << 10

// h3MaxRecorded bounds the frames and PRIORITY_UPDATEs an H3Control keeps.
const h3MaxRecorded = 64

// H3Setting is one HTTP/3 SETTINGS parameter in wire order.
type H3Setting struct {
	ID    uint64 `json:"id"`
	Name  string `json:"name,omitempty"`
	Value uint64 `json:"value"`
	// GREASE marks a reserved id (0x1f*N + 0x21, RFC 9114 §7.2.4.1).
	GREASE bool `json:"grease,omitempty"`
}

// H3PriorityUpdate is a PRIORITY_UPDATE frame (RFC 9218 §7.2).
type H3PriorityUpdate struct {
	// Push is set for the push-stream variant (0xf0701).
	Push bool `json:"push,omitempty"`
	// ElementID is the stream (or push) id the update is for.
	ElementID uint64 `json:"element_id"`
	// Priority is the Priority Field Value (e.g. "u=0, i").
	Priority string `json:"priority"`
}

// IsH3GREASE reports whether id is a reserved HTTP/3 setting, frame or
// stream type (0x1f*N + 0x21).
func IsH3GREASE(id uint64) bool { return id >= 0x21 && (id-0x21)%0x1f == 0 }

// H3SettingName names the registered HTTP/3 settings.
func H3SettingName(id uint64) string {
	switch id {
	case 0x01:
		return "SETTINGS_QPACK_MAX_TABLE_CAPACITY"
	case 0x06:
		return "SETTINGS_MAX_FIELD_SECTION_SIZE"
	case 0x07:
		return "SETTINGS_QPACK_BLOCKED_STREAMS"
	case 0x08:
		return "SETTINGS_ENABLE_CONNECT_PROTOCOL"
	case 0x33:
		return "SETTINGS_H3_DATAGRAM"
	case 0x2b603742:
		return "SETTINGS_ENABLE_WEBTRANSPORT"
	case 0xc671706a:
		return "SETTINGS_WT_MAX_SESSIONS"
	case 0x727273:
		return "SETTINGS_ENABLE_METADATA"
	}
	if IsH3GREASE(id) {
		return "GREASE"
	}
	return ""
}

// H3Error is an HTTP/3 connection error found in the client's control
// stream: Code is the RFC 9114 §8.1 error code the server closes with.
type H3Error struct {
	Code uint64
	Msg  string
}

func (e *H3Error) Error() string { return fmt.Sprintf("http3 error 0x%x: %s", e.Code, e.Msg) }

// HTTP/3 error codes used by the control stream parser.
const (
	H3ErrFrameUnexpected = 0x105
	H3ErrFrameError      = 0x106
	H3ErrExcessiveLoad   = 0x107
	H3ErrSettingsError   = 0x109
	H3ErrMissingSettings = 0x10a
)

// H3Control parses the client's HTTP/3 control stream (RFC 9114 §6.2.1)
// from its bytes after the stream type: the first frame must be SETTINGS;
// then PRIORITY_UPDATE, GOAWAY, MAX_PUSH_ID, CANCEL_PUSH and reserved or
// unknown frames may follow. Feed it the stream's bytes in order in any
// chunks; it holds at most one partial frame (H3MaxControlFrame bytes).
type H3Control struct {
	// Settings are the client's SETTINGS in wire order (nil until the
	// SETTINGS frame is complete).
	Settings []H3Setting `json:"settings"`
	// PriorityUpdates are the PRIORITY_UPDATE frames in arrival order (the
	// first h3MaxRecorded).
	PriorityUpdates []H3PriorityUpdate `json:"priority_updates,omitempty"`
	// Frames are the types of the frames in order (the first h3MaxRecorded).
	Frames []uint64 `json:"frames,omitempty"`

	settingsSeen bool
	buf          []byte
	err          error
}

// SettingsSeen reports whether the SETTINGS frame was parsed.
func (c *H3Control) SettingsSeen() bool { return c.settingsSeen }

// Feed parses b. After the first error (an *H3Error) it ignores its input
// and returns that error again.
func (c *H3Control) Feed(b []byte) error {
	if c.err != nil {
		return c.err
	}
	c.buf = append(c.buf, b...)
	for {
		typ, payload, n, err := ReadH3Frame(c.buf, H3MaxControlFrame)
		if err != nil {
			c.err, c.buf = err, nil
			return err
		}
		if n == 0 {
			break
		}
		if err := c.frame(typ, payload); err != nil {
			c.err, c.buf = err, nil
			return err
		}
		c.buf = c.buf[n:]
	}
	if len(c.buf) == 0 {
		c.buf = nil // release the backing array
	} else {
		c.buf = append([]byte(nil), c.buf...)
	}
	return nil
}

func (c *H3Control) frame(typ uint64, payload []byte) error {
	if len(c.Frames) < h3MaxRecorded {
		c.Frames = append(c.Frames, typ)
	}
	if !c.settingsSeen {
		if typ != H3FrameSettings {
			return &H3Error{H3ErrMissingSettings, fmt.Sprintf("first control frame is type 0x%x, not SETTINGS", typ)}
		}
		s, err := ParseH3Settings(payload)
		if err != nil {
			return err
		}
		c.Settings, c.settingsSeen = s, true
		return nil
	}
	switch typ {
	case H3FrameSettings:
		return &H3Error{H3ErrFrameUnexpected, "second SETTINGS frame"}
	case H3FrameData, H3FrameHeaders, H3FramePushPromise:
		return &H3Error{H3ErrFrameUnexpected, fmt.Sprintf("frame type 0x%x on the control stream", typ)}
	case H3FramePriorityUpdate, H3FramePriorityUpdatePush:
		id, n, ok := QUICVarint(payload)
		if !ok {
			return &H3Error{H3ErrFrameError, "PRIORITY_UPDATE without an element id"}
		}
		if len(c.PriorityUpdates) < h3MaxRecorded {
			c.PriorityUpdates = append(c.PriorityUpdates, H3PriorityUpdate{
				Push: typ == H3FramePriorityUpdatePush, ElementID: id, Priority: string(payload[n:])})
		}
	case H3FrameGoAway, H3FrameMaxPushID, H3FrameCancelPush:
		if _, n, ok := QUICVarint(payload); !ok || n != len(payload) {
			return &H3Error{H3ErrFrameError, fmt.Sprintf("frame type 0x%x: bad payload", typ)}
		}
	}
	return nil
}

// ReadH3Frame reads one HTTP/3 frame (type varint, length varint, payload)
// from the start of b. n is 0 when b does not hold the whole frame yet. A
// declared payload longer than max is an error (H3_EXCESSIVE_LOAD).
// payload points into b.
func ReadH3Frame(b []byte, max int) (typ uint64, payload []byte, n int, err error) {
	typ, tn, ok := QUICVarint(b)
	if !ok {
		return 0, nil, 0, nil
	}
	l, ln, ok := QUICVarint(b[tn:])
	if !ok {
		return 0, nil, 0, nil
	}
	if l > uint64(max) {
		return typ, nil, 0, &H3Error{H3ErrExcessiveLoad, fmt.Sprintf("frame type 0x%x of %d bytes exceeds %d", typ, l, max)}
	}
	end := tn + ln + int(l)
	if len(b) < end {
		return 0, nil, 0, nil
	}
	return typ, b[tn+ln : end], end, nil
}

// ParseH3Settings parses a SETTINGS frame payload: (id, value) varint
// pairs, kept in wire order. A repeated id or an HTTP/2 setting id
// (0x02-0x05) is a settings error (RFC 9114 §7.2.4).
func ParseH3Settings(p []byte) ([]H3Setting, error) {
	out := []H3Setting{}
	for i := 0; i < len(p); {
		id, n, ok := QUICVarint(p[i:])
		if !ok {
			return out, &H3Error{H3ErrFrameError, "truncated setting id"}
		}
		i += n
		v, n, ok := QUICVarint(p[i:])
		if !ok {
			return out, &H3Error{H3ErrFrameError, fmt.Sprintf("setting 0x%x: truncated value", id)}
		}
		i += n
		if id >= 0x02 && id <= 0x05 {
			return out, &H3Error{H3ErrSettingsError, fmt.Sprintf("HTTP/2 setting 0x%x in HTTP/3 SETTINGS", id)}
		}
		for _, s := range out {
			if s.ID == id {
				return out, &H3Error{H3ErrSettingsError, fmt.Sprintf("setting 0x%x repeated", id)}
			}
		}
		if len(out) >= h3MaxRecorded {
			return out, &H3Error{H3ErrExcessiveLoad, "more than 64 settings"}
		}
		out = append(out, H3Setting{ID: id, Name: H3SettingName(id), Value: v, GREASE: IsH3GREASE(id)})
	}
	return out, nil
}
