package quicinitial

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
)

// SealClient builds a protected client Initial packet (RFC 9001 §5) for
// version and destination connection ID dcid with packet number pn (sent
// in 4 bytes), the given token and frames; the payload is padded with
// PADDING frames so the packet is at least minLen bytes. It is the inverse
// of Open, for tests and fuzz seeds (a client's view: this package never
// sends).
func SealClient(version uint32, dcid, scid, token []byte, pn uint32, frames []byte, minLen int) ([]byte, error) {
	k, err := NewClientKeys(version, dcid)
	if err != nil {
		return nil, err
	}
	return SealClientWith(k, version, dcid, scid, token, pn, frames, minLen), nil
}

// SealClientWith is SealClient with the keys given: a client keeps the
// keys of its original destination connection ID after it switches to
// the server's (RFC 9001 §5.2).
func SealClientWith(k *Keys, version uint32, dcid, scid, token []byte, pn uint32, frames []byte, minLen int) []byte {
	first := byte(0xc3) // long header, fixed bit, Initial (v1), 4-byte packet number
	if version == V2 {
		first = 0xd3 // Initial is type 1 in v2
	}
	hdr := []byte{first}
	hdr = binary.BigEndian.AppendUint32(hdr, version)
	hdr = append(hdr, byte(len(dcid)))
	hdr = append(hdr, dcid...)
	hdr = append(hdr, byte(len(scid)))
	hdr = append(hdr, scid...)
	hdr = appendVarint(hdr, uint64(len(token)))
	hdr = append(hdr, token...)
	payload := append([]byte(nil), frames...)
	for len(hdr)+2+4+len(payload)+16 < minLen {
		payload = append(payload, 0)
	}
	length := 4 + len(payload) + 16
	hdr = append(hdr, 0x40|byte(length>>8), byte(length))
	pnOff := len(hdr)
	hdr = binary.BigEndian.AppendUint32(hdr, pn)
	nonce := k.IV
	for i := 0; i < 4; i++ {
		nonce[8+i] ^= byte(pn >> (24 - 8*i))
	}
	pkt := k.AEAD.Seal(append([]byte(nil), hdr...), nonce[:], payload, hdr)
	var mask [16]byte
	k.HP.Encrypt(mask[:], pkt[pnOff+4:pnOff+20])
	pkt[0] ^= mask[0] & 0x0f
	for i := 0; i < 4; i++ {
		pkt[pnOff+i] ^= mask[1+i]
	}
	return pkt
}

// CryptoFrame encodes a CRYPTO frame (4-byte offset, 2-byte length).
func CryptoFrame(off int, data []byte) []byte {
	f := []byte{0x06}
	f = binary.BigEndian.AppendUint32(f, 0x80000000|uint32(off))
	f = append(f, 0x40|byte(len(data)>>8), byte(len(data)))
	return append(f, data...)
}

func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, 0x40|byte(v>>8), byte(v))
	case v < 1<<30:
		return binary.BigEndian.AppendUint32(b, 0x80000000|uint32(v))
	}
	return binary.BigEndian.AppendUint64(b, 0xc000000000000000|v)
}

// GoClientHello returns a real QUIC ClientHello message from crypto/tls's
// QUIC client, for tests and fuzz seeds: X25519 only (so it fits one
// Initial) unless pq is set, with the transport parameters quic-go
// requires (initial_source_connection_id = scid, initial_max_data,
// initial_max_stream_data_bidi_local, initial_max_streams_bidi).
func GoClientHello(scid []byte, pq bool) ([]byte, error) {
	cfg := &tls.Config{ServerName: "localhost", NextProtos: []string{"h3"}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} //nolint:gosec // a hello for tests, never a handshake
	if !pq {
		cfg.CurvePreferences = []tls.CurveID{tls.X25519}
	}
	qc := tls.QUICClient(&tls.QUICConfig{TLSConfig: cfg})
	defer qc.Close()
	tp := []byte{0x0f, byte(len(scid))}
	tp = append(tp, scid...)
	tp = append(tp, 0x04, 0x02, 0x44, 0x00, 0x05, 0x02, 0x44, 0x00, 0x08, 0x01, 0x10)
	qc.SetTransportParameters(tp)
	if err := qc.Start(context.Background()); err != nil {
		return nil, fmt.Errorf("quicinitial: starting a crypto/tls QUIC client: %w", err)
	}
	var hello []byte
	for {
		e := qc.NextEvent()
		if e.Kind == tls.QUICNoEvent {
			break
		}
		if e.Kind == tls.QUICWriteData && e.Level == tls.QUICEncryptionLevelInitial {
			hello = append(hello, e.Data...)
		}
	}
	return hello, nil
}
