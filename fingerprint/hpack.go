package fingerprint

import "errors"

// HPACK representations (RFC 7541 §6) as HPACKCodes writes them, one code a
// header field, in block order:
//
//	i    indexed header field (§6.1)
//	l    literal with incremental indexing (§6.2.1)
//	w    literal without indexing (§6.2.2)
//	v    literal never indexed (§6.2.3)
//	u    dynamic table size update (§6.3), not a field
//
// A literal's code is followed by "n" when its name is a literal (not a
// table reference), "N" when that name is Huffman-coded, and "h" when its
// value is Huffman-coded. Browsers' encoders differ in all of these (which
// fields they index, which they never index, when they use Huffman), and the
// pattern is stable per browser version: a fingerprint no common one covers.

// hpackCodes interns every code HPACKCodes can produce, so recording a
// request's codes (on the capture path) allocates no string per field.
var hpackCodes = func() map[string]string {
	m := map[string]string{"i": "i", "u": "u"}
	for _, k := range []string{"l", "w", "v"} {
		for _, suffix := range []string{"", "h", "n", "nh", "nN", "nNh"} {
			m[k+suffix] = k + suffix
		}
	}
	return m
}()

// maxHPACKBlock bounds the header block bytes kept to compute the codes; a
// longer block gets no codes (its fields are still decoded).
const maxHPACKBlock = 64 << 10

var errHPACKTruncated = errors.New("hpack: block ends inside a representation")

// HPACKCodes walks a complete header block and returns the representation
// code of each of its entries (see the table above). It reads only the
// representation bytes and string lengths, not the table, so it works on
// any block the decoder accepted.
func HPACKCodes(block []byte) ([]string, error) {
	var out []string
	for len(block) > 0 {
		b := block[0]
		var kind byte
		var prefix uint
		literal := true
		switch {
		case b&0x80 != 0:
			kind, prefix, literal = 'i', 7, false
		case b&0xc0 == 0x40:
			kind, prefix = 'l', 6
		case b&0xe0 == 0x20:
			kind, prefix, literal = 'u', 5, false
		case b&0xf0 == 0x10:
			kind, prefix = 'v', 4
		default:
			kind, prefix = 'w', 4
		}
		idx, rest, err := hpackInt(block, prefix)
		if err != nil {
			return out, err
		}
		block = rest
		var buf [4]byte
		code := append(buf[:0], kind)
		if literal {
			if idx == 0 {
				huff, rest, err := hpackString(block)
				if err != nil {
					return out, err
				}
				block = rest
				code = append(code, 'n')
				if huff {
					code = append(code, 'N')
				}
			}
			huff, rest, err := hpackString(block)
			if err != nil {
				return out, err
			}
			block = rest
			if huff {
				code = append(code, 'h')
			}
		}
		out = append(out, hpackCodes[string(code)]) // interned: no allocation per field
	}
	return out, nil
}

// hpackInt decodes an integer with an n-bit prefix (RFC 7541 §5.1) from the
// start of b and returns it and the rest of b.
func hpackInt(b []byte, n uint) (uint64, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errHPACKTruncated
	}
	limit := uint64(1)<<n - 1
	v := uint64(b[0]) & limit
	b = b[1:]
	if v < limit {
		return v, b, nil
	}
	var m uint
	for {
		if len(b) == 0 {
			return 0, nil, errHPACKTruncated
		}
		c := b[0]
		b = b[1:]
		if m > 56 {
			return 0, nil, errors.New("hpack: integer overflow")
		}
		v += uint64(c&0x7f) << m
		m += 7
		if c&0x80 == 0 {
			return v, b, nil
		}
	}
}

// hpackString skips a string literal (RFC 7541 §5.2) at the start of b and
// reports whether it is Huffman-coded.
func hpackString(b []byte) (bool, []byte, error) {
	if len(b) == 0 {
		return false, nil, errHPACKTruncated
	}
	huff := b[0]&0x80 != 0
	n, rest, err := hpackInt(b, 7)
	if err != nil {
		return false, nil, err
	}
	if uint64(len(rest)) < n {
		return false, nil, errHPACKTruncated
	}
	return huff, rest[n:], nil
}
