// Package fingerprint turns bytes sent by a client into typed values and
// fingerprints: the TLS ClientHello, HTTP/1 request heads and the client side
// of an HTTP/2 connection; JA3, JA3N, JA4 (+_r, _o, _ro), Akamai HTTP/2,
// PeetPrint-compatible and header-order fingerprints.
//
// Every parser here reads attacker-controlled bytes. The contract for all of
// them: malformed input returns a *ParseError naming what was wrong and the
// byte offset where it was found; no input makes a parser panic; no parser
// allocates more than a fixed multiple of its input or of a documented cap.
// Wire order is kept everywhere in ordered slices, never maps.
//
// The package imports only the standard library plus
// golang.org/x/crypto/cryptobyte and golang.org/x/net/http2/hpack.
package fingerprint
