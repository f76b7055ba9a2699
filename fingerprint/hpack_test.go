package fingerprint

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

// TestHPACKCodes uses the request examples of RFC 7541 Appendix C and
// hand-made blocks for the representations they lack.
func TestHPACKCodes(t *testing.T) {
	for _, tc := range []struct {
		name, hex string
		want      []string
	}{
		// C.3.1: three indexed fields and :authority as a literal with
		// incremental indexing, indexed name, plain value.
		{"C.3.1", "828684410f7777772e6578616d706c652e636f6d", []string{"i", "i", "i", "l"}},
		// C.3.2: a dynamic table reference, then cache-control literal.
		{"C.3.2", "828684be58086e6f2d6361636865", []string{"i", "i", "i", "i", "l"}},
		// C.3.3: a literal name (custom-key) with a plain value.
		{"C.3.3", "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565", []string{"i", "i", "i", "i", "ln"}},
		// C.4.1: the same as C.3.1 with a Huffman-coded value.
		{"C.4.1", "828684418cf1e3c2e5f23a6ba0ab90f4ff", []string{"i", "i", "i", "lh"}},
		// C.4.3: Huffman-coded literal name and value.
		{"C.4.3", "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf", []string{"i", "i", "i", "i", "lnNh"}},
		// :path "/x" without indexing (0x04), a never-indexed literal name,
		// and a dynamic table size update.
		{"without, never, size update", "3f0104022f78100161016220", []string{"u", "w", "vn", "u"}},
	} {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		got, err := HPACKCodes(b)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
		// Every cut inside the last entry is reported, never mis-read.
		for cut := 1; cut < len(b); cut++ {
			codes, err := HPACKCodes(b[:cut])
			if err == nil && len(codes) > len(tc.want) {
				t.Errorf("%s cut at %d: %v", tc.name, cut, codes)
			}
		}
	}
}

// TestH2StreamHPACK checks that a request records its block's
// representations however the bytes arrive.
func TestH2StreamHPACK(t *testing.T) {
	c := feedH2AllWays(t, readHTTPCapture(t, "curl-h2c-get.bin"), H2Config{}).Conn
	if c.Err != nil {
		t.Fatal(c.Err)
	}
	r := c.Requests[0]
	if len(r.HPACK) != len(r.Pseudo)+len(r.Headers) {
		t.Fatalf("hpack codes %v for %d fields", r.HPACK, len(r.Pseudo)+len(r.Headers))
	}
	// nghttp2 (curl) indexes :method GET and sends the user agent as a
	// literal with incremental indexing.
	if r.HPACK[0] != "i" || !strings.HasPrefix(r.HPACK[len(r.Pseudo)], "l") {
		t.Errorf("hpack codes %v", r.HPACK)
	}
}

func FuzzHPACKCodes(f *testing.F) {
	for _, s := range []string{"828684410f7777772e6578616d706c652e636f6d", "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf", "3f0104022f78100161016220", "ff"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		codes, err := HPACKCodes(b)
		if err == nil && len(codes) > len(b) {
			t.Fatalf("%d codes from %d bytes", len(codes), len(b))
		}
		for _, c := range codes {
			if c == "" {
				t.Fatalf("an empty code in %v", codes)
			}
		}
	})
}
