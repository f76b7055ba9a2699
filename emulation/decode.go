package emulation

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// CallerAccepts reports whether the caller's own Accept-Encoding on req
// allows content coding (gzip, br, ...): listed by name or by "*", with a
// q-value above zero. A request without Accept-Encoding accepts only
// identity. The proxy sends the profile's Accept-Encoding instead, so a
// response may come in a coding the caller never asked for; DecodeBody
// undoes it.
func CallerAccepts(req *http.Request, coding string) bool {
	coding = strings.ToLower(strings.TrimSpace(coding))
	if coding == "" || coding == "identity" {
		return true
	}
	if coding == "x-gzip" {
		coding = "gzip"
	}
	star := false
	for _, v := range req.Header.Values("Accept-Encoding") {
		for _, item := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(item, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "x-gzip" {
				name = "gzip"
			}
			ok := qAbove0(params)
			switch name {
			case coding:
				return ok
			case "*":
				star = ok
			}
		}
	}
	return star
}

// qAbove0 reports whether an Accept-Encoding item's parameters leave its
// weight above zero.
func qAbove0(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q > 0
		}
	}
	return true
}

// ErrDecodeLimit is wrapped by the errors of DecodeBody, and of reading a
// body it decodes, when a response goes beyond DecodeLimits: too many
// stacked content codings, or a coding that decodes to too much data for
// the body bytes read (a decompression bomb).
var ErrDecodeLimit = errors.New("emulation: response body beyond the decoding limits")

// DecodeLimits bound the work DecodeBody does for one response. A zero
// field takes its default.
type DecodeLimits struct {
	// MaxCodings is the most content codings decoded; a response that
	// lists more is refused. Default 5, as curl (MAX_ENCODE_STACK).
	MaxCodings int
	// MaxRatio bounds the output of every decoding step to MaxRatio times
	// the body bytes read so far, plus RatioAllowance. Default 200 (as
	// Apache's DeflateInflateRatioLimit): real content rarely compresses
	// beyond 20:1, and gzip's own maximum is about 1000:1.
	MaxRatio int64
	// RatioAllowance is output every step may produce whatever the ratio,
	// so that small, highly compressible responses pass. Default 1 MiB.
	RatioAllowance int64
	// MaxSize bounds the output of every decoding step in bytes. Default
	// 1 GiB.
	MaxSize int64
}

// Default decoding limits (see DecodeLimits).
const (
	DefaultMaxCodings     = 5
	DefaultMaxRatio       = 200
	DefaultRatioAllowance = 1 << 20
	DefaultMaxDecodedSize = 1 << 30
)

func (l DecodeLimits) withDefaults() DecodeLimits {
	if l.MaxCodings <= 0 {
		l.MaxCodings = DefaultMaxCodings
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	if l.RatioAllowance <= 0 {
		l.RatioAllowance = DefaultRatioAllowance
	}
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxDecodedSize
	}
	return l
}

// DecodeBody is DecodeBodyLimits with the default limits.
func DecodeBody(resp *http.Response) error {
	return DecodeBodyLimits(resp, DecodeLimits{})
}

// DecodeBodyLimits removes the content codings of resp's body that the
// caller did not accept (see CallerAccepts; resp.Request must be the
// caller's request, as http.RoundTripper implementations set it; a
// response without a request is decoded). It understands gzip (x-gzip),
// deflate (zlib or raw), br and zstd, applied in the order
// Content-Encoding lists them. When it decodes, it replaces resp.Body with
// a reader of the decoded bytes (closing it closes the original), removes
// Content-Encoding and Content-Length, sets ContentLength to -1 and
// Uncompressed. A body whose codings the caller accepts, or a response
// without body, is left alone.
//
// More codings than lim.MaxCodings is an error wrapping ErrDecodeLimit,
// whether or not the caller accepts them; an unknown coding the caller
// did not accept is an error too. Either leaves resp unchanged.
// Decoding errors in the body itself surface from Read, among them a
// step that decodes to more than lim allows (wrapping ErrDecodeLimit).
func DecodeBodyLimits(resp *http.Response, lim DecodeLimits) error {
	lim = lim.withDefaults()
	var codings []string
	for _, v := range resp.Header.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	if len(codings) == 0 || resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	if len(codings) > lim.MaxCodings {
		return fmt.Errorf("%w: %d content codings, at most %d are decoded", ErrDecodeLimit, len(codings), lim.MaxCodings)
	}
	if resp.Request != nil && !slices.ContainsFunc(codings, func(c string) bool { return !CallerAccepts(resp.Request, c) }) {
		return nil
	}
	for _, c := range codings {
		switch c {
		case "gzip", "x-gzip", "deflate", "br", "zstd":
		default:
			return fmt.Errorf("emulation: decoding response body: unsupported content coding %q", c)
		}
	}
	st := &decodeState{lim: lim, wire: &countingReader{r: resp.Body}}
	r := io.Reader(st.wire)
	var closers []func()
	for i := len(codings) - 1; i >= 0; i-- {
		r = &limitedDecoder{r: &lazyDecoder{coding: codings[i], src: r, closers: &closers}, name: codings[i], st: st}
	}
	resp.Body = &decodedBody{r: r, orig: resp.Body, closers: &closers, st: st}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
	return nil
}

// countingReader counts the body bytes read from the wire.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decodeState is shared by the steps of one decoded body.
type decodeState struct {
	lim  DecodeLimits
	wire *countingReader
	// err is the first limit error of any step: a later step may turn
	// its source's error into one of its own (io.ErrUnexpectedEOF), so
	// the body reports this one.
	err error
}

// limitedDecoder fails once a decoding step has produced more than the
// limits allow for the body bytes read so far. Every step has one, so
// that an inner coding cannot expand into data a later step discards
// (zstd skippable frames, brotli metadata) without being counted.
type limitedDecoder struct {
	r    io.Reader
	name string
	st   *decodeState
	out  int64
}

func (d *limitedDecoder) Read(p []byte) (int, error) {
	if d.st.err != nil {
		return 0, d.st.err
	}
	n, err := d.r.Read(p)
	d.out += int64(n)
	lim := d.st.lim
	if d.out > lim.MaxSize {
		d.st.err = fmt.Errorf("%w: %s decodes to more than %d bytes", ErrDecodeLimit, d.name, lim.MaxSize)
	} else if budget := lim.RatioAllowance + lim.MaxRatio*d.st.wire.n; d.out > budget {
		d.st.err = fmt.Errorf("%w: %s decodes %d body bytes to more than %d bytes (ratio limit %d:1)", ErrDecodeLimit, d.name, d.st.wire.n, budget, lim.MaxRatio)
	}
	if d.st.err != nil {
		return 0, d.st.err
	}
	return n, err
}

// lazyDecoder opens its decoder on the first Read, so that DecodeBody does
// not block on the network and a bad header surfaces as a read error.
type lazyDecoder struct {
	coding  string
	src     io.Reader
	dec     io.Reader
	err     error
	closers *[]func()
}

func (d *lazyDecoder) Read(p []byte) (int, error) {
	if d.dec == nil && d.err == nil {
		d.dec, d.err = newDecoder(d.coding, d.src, d.closers)
	}
	if d.err != nil {
		return 0, d.err
	}
	return d.dec.Read(p)
}

// newDecoder returns a reader that decodes coding from src; decoders that
// hold resources register their release in closers.
func newDecoder(coding string, src io.Reader, closers *[]func()) (io.Reader, error) {
	switch coding {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("emulation: decoding gzip response body: %w", err)
		}
		*closers = append(*closers, func() { zr.Close() })
		return zr, nil
	case "deflate":
		// RFC 9110 deflate is zlib; some servers send raw DEFLATE.
		br := bufio.NewReader(src)
		hdr, err := br.Peek(2)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("emulation: decoding deflate response body: %w", err)
		}
		if len(hdr) == 2 && hdr[0]&0x0f == 8 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, fmt.Errorf("emulation: decoding deflate response body: %w", err)
			}
			*closers = append(*closers, func() { zr.Close() })
			return zr, nil
		}
		fr := flate.NewReader(br)
		*closers = append(*closers, func() { fr.Close() })
		return fr, nil
	case "br":
		return brotli.NewReader(src), nil
	case "zstd":
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			return nil, fmt.Errorf("emulation: decoding zstd response body: %w", err)
		}
		*closers = append(*closers, zr.Close)
		return zr, nil
	}
	return nil, fmt.Errorf("emulation: decoding response body: unsupported content coding %q", coding)
}

// decodedBody is the decoded response body.
type decodedBody struct {
	r       io.Reader
	orig    io.ReadCloser
	closers *[]func()
	st      *decodeState
}

func (b *decodedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && b.st.err != nil {
		err = b.st.err
	}
	return n, err
}

// Close releases the decoders and closes the original body.
func (b *decodedBody) Close() error {
	for _, c := range *b.closers {
		c()
	}
	*b.closers = nil
	return b.orig.Close()
}
