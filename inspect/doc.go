// Package inspect finds TLS ClientHellos in offline inputs and turns each
// into a Record: the decoded hello plus its JA3, JA3N, JA4 (+_r, _o, _ro)
// and PeetPrint fingerprints. It backs `fpserver inspect`.
//
// Inputs are auto-detected (see Detect):
//
//   - raw bytes: one or more TLS records holding ClientHellos (0x16 ...),
//     bare ClientHello handshake messages (0x01 ...), or QUIC version 1/2
//     Initial packets, back to back; non-handshake TLS records between
//     hellos are skipped;
//   - hex text of the same (whitespace, newlines, ':' and ',' separators, an
//     optional 0x prefix per token and '#' comment lines allowed), for
//     example Wireshark's "Copy as Hex Stream", one hello per line or one
//     hello over many lines;
//   - pcap (both byte orders, micro- and nanosecond timestamps) and pcapng
//     (several sections and interfaces, Enhanced, Simple and obsolete Packet
//     blocks) captures over Ethernet (with 802.1Q/802.1ad tags), Linux
//     cooked v1/v2, BSD loopback and raw IPv4/IPv6 link types;
//   - any of the above compressed with gzip.
//
// In captures every TCP direction is reassembled from its sequence numbers
// (out-of-order, retransmitted and overlapping segments, a missing SYN) until
// its ClientHello is complete, IPv4 and IPv6 fragments are reassembled, and
// QUIC Initial packets are decrypted (RFC 9001 §5, RFC 9369) and their CRYPTO
// frames reassembled. All buffering is bounded by Options.
//
// Output is streamed: Handler.Hello is called as soon as a hello is
// complete, in the order the hellos complete in the input.
package inspect
