package inspect

import (
	"fmt"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// Record is one ClientHello found in an input: the JSON object that
// `fpserver inspect` writes per line. The JSON names of the first fields (up
// to and including peetprint_hash, except tls_version_name) are a contract
// (DESIGN §4.1); the rest are extras that may be absent.
//
// Conventions:
//   - tls_version is the highest version offered (the highest non-GREASE
//     supported_versions entry, else legacy_version) as four lower-case hex
//     digits with a 0x prefix, e.g. "0x0304"; tls_version_name is its
//     human name (fingerprint.VersionName: "TLS 1.3"), or "unknown";
//   - ciphers and extensions are the numeric code points in wire order with
//     GREASE values kept: this is the wire view; the fingerprints apply the
//     GREASE rules of DESIGN §4.2;
//   - alpn is [] (never null) when the hello has no ALPN extension.
type Record struct {
	Source         string   `json:"source"`
	SNI            string   `json:"sni"`
	ALPN           []string `json:"alpn"`
	TLSVersion     string   `json:"tls_version"`
	TLSVersionName string   `json:"tls_version_name"`
	Ciphers        []uint16 `json:"ciphers"`
	Extensions     []uint16 `json:"extensions"`
	JA3            string   `json:"ja3"`
	JA3Hash        string   `json:"ja3_hash"`
	JA3N           string   `json:"ja3n"`
	JA3NHash       string   `json:"ja3n_hash"`
	JA4            string   `json:"ja4"`
	JA4R           string   `json:"ja4_r"`
	JA4O           string   `json:"ja4_o"`
	JA4RO          string   `json:"ja4_ro"`
	PeetPrint      string   `json:"peetprint"`
	PeetPrintHash  string   `json:"peetprint_hash"`

	// Transport is "quic" for hellos carried in QUIC Initial packets
	// (in captures or given as raw packets) and "tcp" otherwise: TLS
	// records, and bare handshake messages given as raw bytes or hex, are
	// taken as TLS over TCP. JA4's first character follows it.
	Transport fingerprint.Transport `json:"transport"`
	// Time is the capture timestamp (RFC 3339, UTC, nanoseconds) of the
	// packet that completed the hello; absent when the input has none.
	Time string `json:"time,omitempty"`
	// Packet is the 1-based number of the packet that completed the hello
	// (the frame number Wireshark shows); absent for raw and hex inputs.
	Packet int64 `json:"packet,omitempty"`
	// Offset is the byte offset in the file where the hello (or the QUIC
	// packet that completed it) starts, for raw and hex inputs. For hex it
	// is the offset of the first hex digit in the text. In captures it is
	// the offset in the client->server TCP stream of a hello that does not
	// start its stream (found after a preamble); absent otherwise.
	Offset *int64 `json:"offset,omitempty"`
	// Preamble names the protocol of the bytes before a hello found after
	// a preamble (see DetectPreamble: "smtp", "http-connect", "socks5",
	// ..., "unknown"); absent when the hello starts its stream.
	Preamble string `json:"preamble,omitempty"`
	// Anomalies lists the RFC violations inside the hello's extensions
	// that the parser tolerated (fingerprint.Anomaly); absent when there
	// are none. Offsets count from the start of the hello's records (in
	// captures, from the start of the stream).
	Anomalies []fingerprint.Anomaly `json:"anomalies,omitempty"`
}

// NewRecord builds the Record of a parsed ClientHello found at source.
// Slices are copied, so the Record does not alias ch.
func NewRecord(source string, ch *fingerprint.ClientHello) Record {
	fp := ch.Fingerprints()
	v := ch.MaxVersion()
	name := fingerprint.VersionName(v)
	if name == "" {
		name = "unknown"
	}
	alpn := append([]string{}, ch.ALPN()...)
	exts := ch.ExtensionTypes()
	if exts == nil {
		exts = []uint16{}
	}
	return Record{
		Source:         source,
		SNI:            ch.ServerName(),
		ALPN:           alpn,
		TLSVersion:     fmt.Sprintf("0x%04x", v),
		TLSVersionName: name,
		Ciphers:        append([]uint16{}, ch.CipherSuites...),
		Extensions:     exts,
		JA3:            fp.JA3,
		JA3Hash:        fp.JA3Hash,
		JA3N:           fp.JA3N,
		JA3NHash:       fp.JA3NHash,
		JA4:            fp.JA4,
		JA4R:           fp.JA4R,
		JA4O:           fp.JA4O,
		JA4RO:          fp.JA4RO,
		PeetPrint:      fp.PeetPrint,
		PeetPrintHash:  fp.PeetPrintHash,
		Transport:      ch.Transport,
		Anomalies:      append([]fingerprint.Anomaly(nil), ch.Anomalies...),
	}
}

// formatTime renders a capture timestamp for Record.Time; the zero time
// (a pcapng Simple Packet Block has none) renders as "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
