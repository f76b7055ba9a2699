package fingerprint

import (
	"errors"
	"testing"
)

// FuzzH3Control feeds the control stream parser arbitrary bytes in two
// chunks: it never panics, keeps its bounds, and a second feed after an
// error returns the same error.
func FuzzH3Control(f *testing.F) {
	f.Add([]byte{0x04, 0x04, 0x01, 0x00, 0x06, 0x10}, 3)
	f.Add([]byte{0x04, 0x00, 0x80, 0x0f, 0x07, 0x00, 0x05, 0x00, 'u', '=', '1', ','}, 1)
	f.Add([]byte{0x00, 0x01, 0x00}, 0)
	f.Add([]byte{0x04, 0x02, 0x02, 0x00}, 2)
	f.Add([]byte{0x04, 0x80, 0xff, 0xff, 0xff}, 1)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		var c H3Control
		if cut < 0 || cut > len(b) {
			cut = len(b) / 2
		}
		err1 := c.Feed(b[:cut])
		err2 := c.Feed(b[cut:])
		if err1 != nil && err2 != err1 {
			t.Fatalf("error changed: %v then %v", err1, err2)
		}
		var he *H3Error
		if err2 != nil && !errors.As(err2, &he) {
			t.Fatalf("not an H3Error: %v", err2)
		}
		if len(c.Settings) > h3MaxRecorded || len(c.PriorityUpdates) > h3MaxRecorded || len(c.Frames) > h3MaxRecorded || len(c.buf) > H3MaxControlFrame+16 {
			t.Fatalf("bounds: %d settings %d updates %d frames %d buffered", len(c.Settings), len(c.PriorityUpdates), len(c.Frames), len(c.buf))
		}
		if len(c.Settings) > 0 && !c.SettingsSeen() {
			t.Fatal("settings without SettingsSeen")
		}
	})
}

// FuzzQUICTransportParams: the parameter parser and the fingerprint on
// arbitrary extension data.
func FuzzQUICTransportParams(f *testing.F) {
	f.Add([]byte{0x01, 0x02, 0x40, 0x64, 0x0c, 0x00, 0x1b, 0x01, 0xff})
	f.Add([]byte{0x40, 0x01, 0x05, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, _ := ParseQUICTransportParams(b)
		n := 0
		for _, p := range ps {
			n += len(p.Value)
		}
		if n > len(b) {
			t.Fatalf("%d value bytes from %d", n, len(b))
		}
		fp := QUICTransportParamsFingerprint(ps)
		if len(fp.Hash) != 12 {
			t.Fatalf("hash %q", fp.Hash)
		}
	})
}

func TestH3ControlErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		b    []byte
		code uint64
	}{
		"first frame not SETTINGS": {[]byte{0x07, 0x01, 0x00}, H3ErrMissingSettings},
		"second SETTINGS":          {[]byte{0x04, 0x00, 0x04, 0x00}, H3ErrFrameUnexpected},
		"DATA on control":          {[]byte{0x04, 0x00, 0x00, 0x00}, H3ErrFrameUnexpected},
		"HTTP/2 setting":           {[]byte{0x04, 0x02, 0x03, 0x00}, H3ErrSettingsError},
		"repeated setting":         {[]byte{0x04, 0x04, 0x06, 0x01, 0x06, 0x02}, H3ErrSettingsError},
		"truncated setting":        {[]byte{0x04, 0x01, 0x06}, H3ErrFrameError},
		"huge frame":               {[]byte{0x04, 0x80, 0x01, 0x00, 0x00}, H3ErrExcessiveLoad},
		"bad GOAWAY":               {[]byte{0x04, 0x00, 0x07, 0x00}, H3ErrFrameError},
	} {
		var c H3Control
		err := c.Feed(tc.b)
		var he *H3Error
		if !errors.As(err, &he) || he.Code != tc.code {
			t.Errorf("%s: %v, want code 0x%x", name, err, tc.code)
		}
	}
	var c H3Control
	// SETTINGS byte by byte, GREASE id first, then a PRIORITY_UPDATE and
	// an unknown frame.
	b := []byte{0x04, 0x0a, 0x80, 0x00, 0x00, 0x21 + 0x1f, 0x05, 0x06, 0x44, 0x00, 0x01, 0x00,
		0x80, 0x0f, 0x07, 0x00, 0x05, 0x04, 'u', '=', '2', ',', 0x21, 0x01, 0xaa}
	for i := range b {
		if err := c.Feed(b[i : i+1]); err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	if len(c.Settings) != 3 || c.Settings[0].ID != 0x21+0x1f || !c.Settings[0].GREASE || c.Settings[1].ID != 6 || c.Settings[1].Value != 0x400 || c.Settings[2].ID != 1 {
		t.Errorf("settings %+v", c.Settings)
	}
	if len(c.PriorityUpdates) != 1 || c.PriorityUpdates[0].ElementID != 4 || c.PriorityUpdates[0].Priority != "u=2," {
		t.Errorf("priority updates %+v", c.PriorityUpdates)
	}
	if len(c.Frames) != 3 || c.Frames[2] != 0x21 {
		t.Errorf("frames %v", c.Frames)
	}
}
