package writer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
)

// codecVersion is the first byte of every encoded capture.
const codecVersion = 1

// maxHeaders bounds the header count a decoded record may claim.
const maxHeaders = 1 << 16

var errCodec = errors.New("writer: malformed spool record")

// appendCapture appends the binary encoding of c to b: a version byte, CreatedAt
// as varint Unix nanoseconds, then every field as uvarint-length-prefixed bytes in
// a fixed order, headers as a uvarint count of name/value pairs.
func appendCapture(b []byte, c *model.Capture) []byte {
	b = append(b, codecVersion)
	b = binary.AppendVarint(b, c.CreatedAt.UnixNano())
	for _, s := range stringFields(c) {
		b = binary.AppendUvarint(b, uint64(len(*s)))
		b = append(b, *s...)
	}
	for _, p := range [][]byte{c.ClientHello, c.TLSSummary, c.H2} {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Headers)))
	for _, h := range c.Headers {
		b = binary.AppendUvarint(b, uint64(len(h.Name)))
		b = append(b, h.Name...)
		b = binary.AppendUvarint(b, uint64(len(h.Value)))
		b = append(b, h.Value...)
	}
	return b
}

func stringFields(c *model.Capture) []*string {
	return []*string{
		&c.ID, &c.VisitKey, &c.Initiator, &c.ClientIP, &c.UserAgent, &c.Host, &c.Method, &c.Path,
		&c.HTTPVersion, &c.TLSVersion, &c.SNI, &c.ALPN,
		&c.JA3, &c.JA3Hash, &c.JA3N, &c.JA3NHash, &c.JA4, &c.JA4R, &c.JA4O, &c.JA4RO,
		&c.PeetPrint, &c.PeetPrintHash, &c.Akamai, &c.AkamaiHash, &c.HeaderOrder, &c.HeaderOrderHash,
	}
}

// decoder reads fields from one record, failing on any length past the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCodec
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCodec
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// decodeCapture decodes one record produced by appendCapture. Byte slices in the
// result alias b.
func decodeCapture(b []byte) (model.Capture, error) {
	var c model.Capture
	if len(b) == 0 || b[0] != codecVersion {
		return c, fmt.Errorf("%w: unknown version", errCodec)
	}
	b = b[1:]
	ns, n := binary.Varint(b)
	if n <= 0 {
		return c, fmt.Errorf("%w: bad timestamp", errCodec)
	}
	d := decoder{b: b[n:]}
	c.CreatedAt = time.Unix(0, ns).UTC()
	for _, s := range stringFields(&c) {
		*s = string(d.bytes())
	}
	if v := d.bytes(); len(v) > 0 {
		c.ClientHello = v
	}
	if v := d.bytes(); len(v) > 0 {
		c.TLSSummary = v
	}
	if v := d.bytes(); len(v) > 0 {
		c.H2 = v
	}
	nh := d.uvarint()
	if d.err == nil && (nh > maxHeaders || nh > uint64(len(d.b))) {
		d.err = errCodec
	}
	if d.err == nil && nh > 0 {
		c.Headers = make([]model.HeaderPair, nh)
		for i := range c.Headers {
			c.Headers[i].Name = string(d.bytes())
			c.Headers[i].Value = string(d.bytes())
		}
	}
	if d.err != nil {
		return model.Capture{}, d.err
	}
	if len(d.b) != 0 {
		return model.Capture{}, fmt.Errorf("%w: %d trailing bytes", errCodec, len(d.b))
	}
	return c, nil
}
