// Package jsontext appends JSON strings exactly as encoding/json writes
// them, for the hand-written encoders of fingerprint and web (their output
// is held byte for byte to encoding/json's).
package jsontext

import "unicode/utf8"

// plain marks the ASCII bytes written as they are: printable, not `"`,
// `\`, <, > or &. One table load per byte instead of six comparisons.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		switch c {
		case '"', '\\', '<', '>', '&':
		default:
			t[c] = true
		}
	}
	return t
}()

// AppendString appends s as a JSON string exactly as encoding/json
// writes it: `"` and `\` escaped with a backslash; \b, \f, \n, \r and \t
// by name; other bytes below 0x20 and the HTML characters <, > and & as
// \u00XX; each byte of invalid UTF-8 as \ufffd; U+2028 and U+2029 as
// \u2028 and \u2029; everything else (DEL included) as is.
func AppendString[S string | []byte](b []byte, s S) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		// At most utf8.UTFMax bytes converted: no allocation for []byte.
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
