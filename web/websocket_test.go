package web

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// maskedFrame is a final client frame with a zero mask key.
func maskedFrame(opcode byte, payload []byte) []byte {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, 0, 0, 0, 0)
	return append(b, payload...)
}

// TestAwaitWSClose: the probe reads client frames until a close frame,
// refuses unmasked frames and stops at its byte bound.
func TestAwaitWSClose(t *testing.T) {
	closeFrame := maskedFrame(wsOpClose, wsCloseNormal)
	for _, tc := range []struct {
		name  string
		input []byte
		want  string // "" = nil error
	}{
		{"close", closeFrame, ""},
		{"text, ping, then close", append(append(maskedFrame(wsOpText, []byte("hi")), maskedFrame(0x9, nil)...), closeFrame...), ""},
		{"16-bit length before close", append(maskedFrame(0x2, make([]byte, 300)), closeFrame...), ""},
		{"unmasked", []byte{0x88, 0x02, 0x03, 0xe8}, "protocol error"},
		{"RSV bits", []byte{0xc8, 0x80, 0, 0, 0, 0}, "protocol error"},
		{"EOF before close", maskedFrame(wsOpText, []byte("hi")), "unexpected EOF"},
		{"frame larger than the bound", maskedFrame(0x2, make([]byte, wsMaxClientBytes)), "read bound"},
		{"64-bit length past the bound", []byte{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "read bound"},
		{"many small frames past the bound", bytes.Repeat(maskedFrame(wsOpText, make([]byte, 100)), wsMaxClientBytes/100+1), "read bound"},
	} {
		err := awaitWSClose(bytes.NewReader(tc.input))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestWriteWSFrame: server frames are final, unmasked, with the shortest
// length encoding.
func TestWriteWSFrame(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		writeWSFrame(bw, wsOpText, bytes.Repeat([]byte("x"), n))
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		hdr := 2
		switch {
		case n >= 65536:
			hdr = 10
		case n >= 126:
			hdr = 4
		}
		if b[0] != 0x81 || b[1]&0x80 != 0 || len(b) != hdr+n {
			t.Errorf("payload %d: head %x, %d bytes", n, b[:hdr], len(b))
		}
	}
	if got := wsAccept("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("accept %q (RFC 6455 §1.3's example)", got)
	}
}

func TestSameOriginHost(t *testing.T) {
	for _, tc := range []struct {
		origin, host string
		want         bool
	}{
		{"https://localhost:8443", "localhost:8443", true},
		{"https://LOCALHOST:8443", "localhost:8443", true},
		{"https://localhost", "localhost:8443", false},
		{"https://evil.example", "localhost:8443", false},
		{"null", "localhost:8443", false},
		{"https://localhost:8443.evil.example", "localhost:8443", false},
	} {
		if got := sameOriginHost(tc.origin, tc.host); got != tc.want {
			t.Errorf("sameOriginHost(%q, %q) = %v", tc.origin, tc.host, got)
		}
	}
}
