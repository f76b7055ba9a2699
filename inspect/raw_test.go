package inspect

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// reframe splits the handshake message of a single-record hello over
// records whose bodies are at most n bytes.
func reframe(t testing.TB, rec []byte, n int) []byte {
	t.Helper()
	if rec[0] != 0x16 || int(binary.BigEndian.Uint16(rec[3:5]))+5 != len(rec) {
		t.Fatalf("not a single-record hello")
	}
	msg := rec[5:]
	var out []byte
	for len(msg) > 0 {
		k := min(n, len(msg))
		out = append(out, 0x16, rec[1], rec[2], byte(k>>8), byte(k))
		out = append(out, msg[:k]...)
		msg = msg[k:]
	}
	return out
}

func TestRawInputs(t *testing.T) {
	hs := goHellos(t)
	ccs := []byte{0x14, 0x03, 0x03, 0x00, 0x01, 0x01}
	multi := reframe(t, hs[0], 256)
	bare := hs[1][5:]
	var in []byte
	in = append(in, hs[0]...)
	in = append(in, ccs...)
	at1 := len(in)
	in = append(in, multi...)
	at2 := len(in)
	in = append(in, bare...)
	at3 := len(in)
	in = append(in, hs[2]...)
	in = append(in, '\n')

	c, st := mustRun(t, "hellos.bin", in)
	if st.Format != FormatRaw {
		t.Errorf("format %v", st.Format)
	}
	if len(c.hellos) != 4 {
		t.Fatalf("found %d hellos, want 4", len(c.hellos))
	}
	wants := []Record{wantRecord(t, hs[0], false), wantRecord(t, hs[0], false), wantRecord(t, hs[1], false), wantRecord(t, hs[2], false)}
	offsets := []int64{0, int64(at1), int64(at2), int64(at3)}
	for i, r := range c.hellos {
		sameHello(t, r, wants[i])
		if r.Source != "hellos.bin" || r.Offset == nil || *r.Offset != offsets[i] || r.Packet != 0 || r.Time != "" {
			t.Errorf("hello %d: source %s offset %v packet %d time %q", i, r.Source, r.Offset, r.Packet, r.Time)
		}
		if r.Transport != "tcp" {
			t.Errorf("transport %q", r.Transport)
		}
	}
}

func TestRawProblems(t *testing.T) {
	hs := goHellos(t)

	t.Run("unrecognised", func(t *testing.T) {
		_, _, err := run(t, "page.html", []byte("<html>hello</html>"), Options{})
		var e *Error
		if !errors.As(err, &e) || e.Source != "page.html" || e.Offset != 0 || !strings.Contains(err.Error(), "unrecognised input") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		_, _, err := run(t, "empty", nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "empty input") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("garbage-after-hello", func(t *testing.T) {
		in := append(append([]byte(nil), hs[0]...), 0x42, 0x42, 0x42)
		c, _, err := run(t, "x.bin", in, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.hellos) != 1 || len(c.problems) != 1 {
			t.Fatalf("hellos %d problems %v", len(c.hellos), c.problems)
		}
		p := c.problems[0]
		want := fmt.Sprintf("x.bin: offset %d: unexpected byte 0x42", len(hs[0]))
		if p.Offset != int64(len(hs[0])) || !strings.HasPrefix(p.Error(), want) {
			t.Errorf("problem %q, want prefix %q", p, want)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		in := append(append([]byte(nil), hs[1]...), hs[0][:100]...)
		c, _, err := run(t, "t.bin", in, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.hellos) != 1 || len(c.problems) != 1 {
			t.Fatalf("hellos %d problems %v", len(c.hellos), c.problems)
		}
		p := c.problems[0]
		if p.Offset != int64(len(hs[1])) || !strings.Contains(p.Error(), fmt.Sprintf("have 100 of %d bytes", len(hs[0]))) {
			t.Errorf("problem %v", p)
		}
	})
	t.Run("broken-then-good", func(t *testing.T) {
		bad := append([]byte(nil), hs[0]...)
		sid := int(bad[5+4+2+32])
		at := 5 + 4 + 2 + 32 + 1 + sid
		binary.BigEndian.PutUint16(bad[at:], 3) // an odd cipher suites length
		in := append(bad, hs[1]...)
		c, _, err := run(t, "b.bin", in, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// The framing of the broken hello is intact, so the next one is
		// found.
		if len(c.hellos) != 1 || c.hellos[0].SNI != "b.example" || len(c.problems) != 1 {
			t.Fatalf("hellos %+v problems %v", c.hellos, c.problems)
		}
		if p := c.problems[0]; p.Offset != int64(at) || !strings.Contains(p.Error(), "invalid ClientHello") {
			t.Errorf("problem %v at %d, want offset %d", p, p.Offset, at)
		}
	})
	t.Run("not-a-hello", func(t *testing.T) {
		// A ServerHello record.
		c, _, err := run(t, "sh.bin", []byte{0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.problems) != 1 || !strings.Contains(c.problems[0].Error(), "not_client_hello") || c.problems[0].Offset != 5 {
			t.Errorf("problems %v", c.problems)
		}
	})
	t.Run("stop", func(t *testing.T) {
		in := append(append([]byte(nil), hs[0]...), hs[1]...)
		n := 0
		_, err := New(Options{}).Inspect(context.Background(), "s.bin", bytes.NewReader(in), HandlerFuncs{
			HelloFunc: func(Record) error { n++; return errStop },
		})
		if !errors.Is(err, errStop) || n != 1 {
			t.Errorf("err %v after %d hellos", err, n)
		}
	})
}

// hexStyles renders b in the hex styles people paste.
func hexStyles(b []byte) map[string]string {
	h := hex.EncodeToString(b)
	var xxd, colon, cstyle, spaced strings.Builder
	for i := 0; i < len(h); i += 60 {
		xxd.WriteString(h[i:min(i+60, len(h))] + "\n")
	}
	for i, c := range b {
		if i > 0 {
			colon.WriteByte(':')
			cstyle.WriteString(", ")
			if i%16 == 0 {
				cstyle.WriteString("\n")
				spaced.WriteString("\n")
			} else {
				spaced.WriteByte(' ')
			}
		}
		fmt.Fprintf(&colon, "%02x", c)
		fmt.Fprintf(&cstyle, "0x%02X", c)
		fmt.Fprintf(&spaced, "%02X", c)
	}
	return map[string]string{
		"stream": h,
		"xxd":    xxd.String(),
		"colon":  colon.String(),
		"c":      cstyle.String(),
		"spaced": "# a comment\n\n  " + spaced.String() + "\r\n",
		"0x":     "0x" + h + "\n",
	}
}

func TestHexInputs(t *testing.T) {
	hs := goHellos(t)
	want := wantRecord(t, hs[0], false)
	for style, text := range hexStyles(hs[0]) {
		t.Run(style, func(t *testing.T) {
			c, st := mustRun(t, "h.txt", []byte(text))
			if st.Format != FormatHex {
				t.Fatalf("format %v", st.Format)
			}
			if len(c.hellos) != 1 {
				t.Fatalf("found %d hellos", len(c.hellos))
			}
			sameHello(t, c.hellos[0], want)
			first := strings.Index(text, "16") // the hello's first byte
			if got := c.hellos[0].Offset; got == nil || *got != int64(first) {
				t.Errorf("offset %v, want %d", got, first)
			}
		})
	}
}

// TestHexLines: one hello per line; a bad line is reported with its line
// number and text offset and the lines after it are still read.
func TestHexLines(t *testing.T) {
	hs := goHellos(t)
	lines := []string{
		"# three hellos and a broken line",
		hex.EncodeToString(hs[0]),
		"16030100zz" + hex.EncodeToString(hs[1][5:]), // 'z' at column 8
		hex.EncodeToString(hs[1]),
		"",
		hex.EncodeToString(hs[2]) + "1", // odd digit count at the end
		hex.EncodeToString(hs[0][5:]),   // a bare message
	}
	text := strings.Join(lines, "\n") + "\n"
	c, _, err := run(t, "lines.txt", []byte(text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.hellos) != 4 {
		t.Fatalf("found %d hellos, want 4: %v", len(c.hellos), c.problems)
	}
	sameHello(t, c.hellos[0], wantRecord(t, hs[0], false))
	sameHello(t, c.hellos[1], wantRecord(t, hs[1], false))
	sameHello(t, c.hellos[2], wantRecord(t, hs[2], false))
	sameHello(t, c.hellos[3], wantRecord(t, hs[0], false))
	if len(c.problems) != 2 {
		t.Fatalf("problems %v", c.problems)
	}
	zAt := len(lines[0]) + 1 + len(lines[1]) + 1 + 8
	p := c.problems[0]
	if p.Line != 3 || p.Offset != int64(zAt) || !strings.Contains(p.Error(), `invalid character 'z'`) {
		t.Errorf("problem %v (line %d offset %d), want line 3 offset %d", p, p.Line, p.Offset, zAt)
	}
	oddAt := len(lines[0]) + len(lines[1]) + len(lines[2]) + len(lines[3]) + len(lines[4]) + 5 + len(lines[5]) - 1
	p = c.problems[1]
	if p.Line != 6 || p.Offset != int64(oddAt) || !strings.Contains(p.Error(), "odd number of hex digits") {
		t.Errorf("problem %v (line %d offset %d), want line 6 offset %d", p, p.Line, p.Offset, oddAt)
	}
	if !strings.HasPrefix(p.Error(), fmt.Sprintf("lines.txt: line 6: offset %d: ", oddAt)) {
		t.Errorf("message %q", p.Error())
	}
}

// TestHexParseErrorOffset: an invalid hello in hex text is located at the
// hex digits of the offending byte.
func TestHexParseErrorOffset(t *testing.T) {
	h := append([]byte(nil), goHellos(t)[0]...)
	sid := int(h[5+4+2+32])
	at := 5 + 4 + 2 + 32 + 1 + sid
	binary.BigEndian.PutUint16(h[at:], 3)
	text := hexStyles(h)["colon"] // 3 characters per byte
	c, _, err := run(t, "c.txt", []byte(text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.problems) != 1 || c.problems[0].Offset != int64(3*at) || c.problems[0].Line != 1 {
		t.Fatalf("problems %+v, want offset %d", c.problems, 3*at)
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		in   string
		want Format
	}{
		{"\xd4\xc3\xb2\xa1", FormatPcap},
		{"\xa1\xb2\xc3\xd4", FormatPcap},
		{"\x4d\x3c\xb2\xa1", FormatPcap},
		{"\xa1\xb2\x3c\x4d", FormatPcap},
		{"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a", FormatPcapNG},
		{"\x0a\x0d\x0d\x0a\x00\x00\x00\x1c\x1a\x2b\x3c\x4d", FormatPcapNG},
		{"\x0a\x0d\x0d\x0a\x00\x00\x00\x1c\x00\x00\x00\x00", FormatUnknown},
		{"\x1f\x8b\x08", FormatGzip},
		{"\x16\x03\x01", FormatRaw},
		{"\x01\x00\x01\x00", FormatRaw},
		{"\x17\x03\x03\x00", FormatRaw},
		{"\xc0\x00\x00\x00\x01", FormatRaw},
		{"\xd7\x6b\x33\x43\xcf", FormatRaw},
		{"\xc0\x00\x00\x00\x02", FormatUnknown},
		{"160301", FormatHex},
		{"# comment\n\n  0x16", FormatHex},
		{"#only a comment", FormatHex},
		{"GET / HTTP/1.1", FormatUnknown},
		{"   \n", FormatUnknown},
		{"# a\n\n#b\n", FormatHex},
	}
	for _, tc := range cases {
		if got := Detect([]byte(tc.in)); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
