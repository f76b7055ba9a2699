package emulation

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
)

// gzipLayers gzips b n times.
func gzipLayers(t testing.TB, b []byte, n int) []byte {
	t.Helper()
	for range n {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		b = buf.Bytes()
	}
	return b
}

// TestDecodeBodyCodingCap: up to five stacked codings are decoded (as
// curl does); more are refused before any work with an error wrapping
// ErrDecodeLimit, leaving the response as it was, even when the caller
// would accept them all.
func TestDecodeBodyCodingCap(t *testing.T) {
	plain := []byte("hello, guanaco")
	req := httptest.NewRequest("GET", "https://example.com/", nil)
	ce := func(n int) string { return strings.TrimSuffix(strings.Repeat("gzip, ", n), ", ") }

	resp := response(req, ce(5), gzipLayers(t, plain, 5))
	if err := DecodeBody(resp); err != nil {
		t.Fatalf("5 codings: %v", err)
	}
	if got, err := io.ReadAll(resp.Body); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("5 codings: %q, %v", got, err)
	}

	for _, n := range []int{6, 2000} {
		resp := response(req, ce(n), gzipLayers(t, plain, min(n, 50)))
		body := resp.Body
		err := DecodeBody(resp)
		if !errors.Is(err, ErrDecodeLimit) || !strings.Contains(err.Error(), "at most 5") {
			t.Errorf("%d codings: err = %v, want ErrDecodeLimit", n, err)
		}
		if resp.Body != body || resp.Header.Get("Content-Encoding") != ce(n) {
			t.Errorf("%d codings: a refused response was modified", n)
		}
	}
	// Split over several header fields, identity not counted.
	resp = response(req, "", gzipLayers(t, plain, 6))
	resp.Header["Content-Encoding"] = []string{"gzip, identity, gzip", "gzip", "gzip, gzip", "gzip"}
	if err := DecodeBody(resp); !errors.Is(err, ErrDecodeLimit) {
		t.Errorf("6 codings over 4 fields: err = %v", err)
	}
	// A caller that accepts gzip gets no pass for 6 layers either.
	acc := httptest.NewRequest("GET", "https://example.com/", nil)
	acc.Header.Set("Accept-Encoding", "gzip")
	if err := DecodeBody(response(acc, ce(6), gzipLayers(t, plain, 6))); !errors.Is(err, ErrDecodeLimit) {
		t.Errorf("6 accepted codings: err = %v", err)
	}
	// A custom limit.
	if err := DecodeBodyLimits(response(req, ce(2), gzipLayers(t, plain, 2)), DecodeLimits{MaxCodings: 1}); !errors.Is(err, ErrDecodeLimit) {
		t.Errorf("MaxCodings 1, 2 codings: err = %v", err)
	}
}

// readCapped reads resp.Body to the end or the first error, counting the
// bytes (never holding more than a buffer).
func readCapped(resp io.Reader) (int64, error) {
	return io.Copy(io.Discard, resp)
}

// TestDecodeBodyBomb: a body that decodes to far more than its size
// allows (ratio 200:1 beyond 1 MiB) fails with ErrDecodeLimit after a
// bounded amount of output; every coding is bounded, inner ones too.
func TestDecodeBodyBomb(t *testing.T) {
	req := httptest.NewRequest("GET", "https://example.com/", nil)
	zeros := make([]byte, 10<<20)
	bound := int64(DefaultRatioAllowance + DefaultMaxRatio*64<<10) // the bomb below is far under 64 KiB

	for _, c := range []string{"gzip", "br", "zstd", "deflate"} {
		t.Run(c, func(t *testing.T) {
			wire := encode(t, zeros, c)
			if len(wire) > 64<<10 {
				t.Fatalf("%s bomb is %d bytes", c, len(wire))
			}
			resp := response(req, c, wire)
			if err := DecodeBody(resp); err != nil {
				t.Fatal(err)
			}
			n, err := readCapped(resp.Body)
			if !errors.Is(err, ErrDecodeLimit) {
				t.Errorf("10 MiB of zeros in %d bytes of %s: read %d bytes, err %v; want ErrDecodeLimit", len(wire), c, n, err)
			}
			if n > bound {
				t.Errorf("read %d bytes before the limit, bound %d", n, bound)
			}
			resp.Body.Close()
		})
	}

	// An inner coding that expands into data the outer decoder skips (a
	// zstd skippable frame of 10 MiB, then a real frame), wrapped in
	// gzip: the final output is tiny but the gzip step is bounded.
	var inner bytes.Buffer
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:4], 0x184D2A50)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(zeros)))
	inner.Write(hdr[:])
	inner.Write(zeros)
	inner.Write(encode(t, []byte("hi"), "zstd"))
	resp := response(req, "zstd, gzip", gzipLayers(t, inner.Bytes(), 1))
	if err := DecodeBody(resp); err != nil {
		t.Fatal(err)
	}
	if n, err := readCapped(resp.Body); !errors.Is(err, ErrDecodeLimit) {
		t.Errorf("skippable-frame bomb: read %d bytes, err %v; want ErrDecodeLimit", n, err)
	}

	// An absolute cap.
	resp = response(req, "gzip", gzipLayers(t, bytes.Repeat([]byte("abc"), 1<<20), 1))
	if err := DecodeBodyLimits(resp, DecodeLimits{MaxSize: 1 << 20, MaxRatio: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if n, err := readCapped(resp.Body); !errors.Is(err, ErrDecodeLimit) || n > 1<<20 {
		t.Errorf("MaxSize 1 MiB, 3 MiB body: read %d bytes, err %v", n, err)
	}
}

// TestDecodeBodyLargeOrdinary: a large body that compresses like real
// content (well under 200:1) decodes in full through two codings.
func TestDecodeBodyLargeOrdinary(t *testing.T) {
	words := []string{"guanaco", "llama", "alpaca", "vicuña", "andes", "wool", "herd", "camelid", "<div>", "</p>", "{\"id\":", "},"}
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < 8<<20 {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	plain := b.Bytes()
	req := httptest.NewRequest("GET", "https://example.com/", nil)
	resp := response(req, "gzip, br", encode(t, plain, "gzip", "br"))
	if err := DecodeBody(resp); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, plain) {
		t.Errorf("8 MiB of text: %d bytes, %v", len(got), err)
	}
}
