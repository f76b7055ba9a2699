package inspect

import (
	"bytes"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// PreambleWindow is how far into a client->server TCP stream a ClientHello
// is looked for when the stream does not start with one: the hello's
// record must start in the first PreambleWindow bytes.
const PreambleWindow = 64 << 10

// Preamble protocols reported in Record.Preamble.
const (
	PreambleSMTP        = "smtp"         // EHLO ... STARTTLS
	PreambleIMAP        = "imap"         // TAG STARTTLS
	PreamblePOP3        = "pop3"         // STLS
	PreambleFTP         = "ftp"          // AUTH TLS / AUTH SSL
	PreambleXMPP        = "xmpp"         // <stream:stream ...><starttls/>
	PreambleLDAP        = "ldap"         // ExtendedRequest 1.3.6.1.4.1.1466.20037
	PreambleHTTPConnect = "http-connect" // CONNECT host:port HTTP/1.x
	PreambleSOCKS4      = "socks4"
	PreambleSOCKS5      = "socks5"
	PreambleMySQL       = "mysql"      // SSLRequest packet
	PreamblePostgreSQL  = "postgresql" // SSLRequest (80877103)
	PreambleUnknown     = "unknown"    // bytes before the hello, protocol not recognised
)

// candidate says whether a ClientHello record may start at b[i]: yes, no,
// or not known until more bytes arrive.
type candidate int

const (
	candNo candidate = iota
	candYes
	candMore
)

// helloCandidate checks the first 11 bytes at b[i] for the start of a
// ClientHello record with consistent lengths: 16 03 0x (x <= 4), a record
// length of 6 to MaxRecordLength bytes that does not exceed the handshake
// message, handshake type 1, a body length of at least 41 bytes (the
// smallest ClientHello) and at most MaxHandshakeLength, and a legacy
// version with major 3.
func helloCandidate(b []byte, i int) candidate {
	want := [...]func(byte) bool{
		func(c byte) bool { return c == 0x16 },
		func(c byte) bool { return c == 0x03 },
		func(c byte) bool { return c <= 0x04 },
	}
	for k, ok := range want {
		if i+k >= len(b) {
			return candMore
		}
		if !ok(b[i+k]) {
			return candNo
		}
	}
	if i+11 > len(b) {
		return candMore
	}
	h := b[i : i+11]
	rl := int(h[3])<<8 | int(h[4])
	hl := int(h[6])<<16 | int(h[7])<<8 | int(h[8])
	switch {
	case rl < 6 || rl > fingerprint.MaxRecordLength:
		return candNo
	case h[5] != 0x01 || hl < 41 || hl > fingerprint.MaxHandshakeLength || rl > 4+hl:
		return candNo
	case h[9] != 0x03:
		return candNo
	}
	return candYes
}

// scanHello looks for a ClientHello record start in b from position from
// on, up to PreambleWindow. It returns the position and candYes, candMore
// with the position to resume from when b ends before a verdict, or candNo
// when no hello starts in the window.
func scanHello(b []byte, from int) (int, candidate) {
	for i := from; i < PreambleWindow; {
		j := bytes.IndexByte(b[i:min(len(b), PreambleWindow)], 0x16)
		if j < 0 {
			if len(b) >= PreambleWindow {
				return 0, candNo
			}
			return len(b), candMore
		}
		i += j
		switch helloCandidate(b, i) {
		case candYes:
			return i, candYes
		case candMore:
			return i, candMore
		}
		i++
	}
	return 0, candNo
}

// DetectPreamble names the protocol of the client bytes p sent before its
// ClientHello (one of the Preamble constants), PreambleUnknown when it is
// not recognised, "" when p is empty.
func DetectPreamble(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	upper := bytes.ToUpper(p[:min(len(p), 4096)])
	switch {
	case bytes.HasPrefix(upper, []byte("CONNECT ")):
		return PreambleHTTPConnect
	case (bytes.HasPrefix(upper, []byte("EHLO")) || bytes.HasPrefix(upper, []byte("HELO"))) && bytes.Contains(upper, []byte("STARTTLS")):
		return PreambleSMTP
	case bytes.Contains(upper, []byte("<STREAM:STREAM")) && bytes.Contains(upper, []byte("<STARTTLS")):
		return PreambleXMPP
	case bytes.HasPrefix(upper, []byte("AUTH TLS")) || bytes.HasPrefix(upper, []byte("AUTH SSL")) ||
		bytes.Contains(upper, []byte("\nAUTH TLS")) || bytes.Contains(upper, []byte("\nAUTH SSL")):
		return PreambleFTP
	case bytes.HasPrefix(upper, []byte("STLS")) || bytes.Contains(upper, []byte("\nSTLS")) ||
		bytes.HasPrefix(upper, []byte("CAPA")) && bytes.Contains(upper, []byte("STLS")):
		return PreamblePOP3
	case imapStartTLS(upper):
		return PreambleIMAP
	case bytes.Contains(p, []byte("1.3.6.1.4.1.1466.20037")) && p[0] == 0x30:
		return PreambleLDAP
	case len(p) == 8 && bytes.Equal(p, []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}):
		return PreamblePostgreSQL
	case len(p) >= 36 && p[0] == 32 && p[1] == 0 && p[2] == 0 && p[3] == 1 && p[5]&0x08 != 0:
		// A 32-byte packet, sequence 1, capability flags with CLIENT_SSL.
		return PreambleMySQL
	case len(p) >= 3 && p[0] == 0x05 && int(p[1]) >= 1 && len(p) >= 2+int(p[1]):
		return PreambleSOCKS5
	case len(p) >= 9 && p[0] == 0x04 && (p[1] == 0x01 || p[1] == 0x02):
		return PreambleSOCKS4
	}
	return PreambleUnknown
}

// imapStartTLS reports an IMAP command line "TAG STARTTLS" in the
// upper-cased preamble u.
func imapStartTLS(u []byte) bool {
	for _, l := range bytes.Split(u, []byte("\n")) {
		f := bytes.Fields(l)
		if len(f) == 2 && string(f[1]) == "STARTTLS" {
			return true
		}
	}
	return false
}
