package inspect

import (
	"errors"
	"fmt"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// helloState is what the start of a byte sequence says about the ClientHello
// it should hold.
type helloState int

const (
	helloNeedMore helloState = iota // more bytes needed to know or to finish
	helloReady                      // the first need bytes hold the hello
	helloBad                        // err says why there is no hello here
)

// recordHello inspects b, which should start with the TLS record(s) of a
// ClientHello, and says how many bytes the hello needs.
func recordHello(b []byte, limit int) (helloState, int, error) {
	need, err := fingerprint.ClientHelloLength(b)
	return sized(need, err, len(b), limit)
}

// bareHello inspects b, which should start with a bare ClientHello handshake
// message (a QUIC CRYPTO stream, or a message copied out of its records).
func bareHello(b []byte, limit int) (helloState, int, error) {
	if len(b) == 0 {
		return helloNeedMore, 1, nil
	}
	if b[0] != 0x01 {
		return helloBad, 0, &fingerprint.ParseError{Code: fingerprint.CodeNotClientHello, Offset: 0,
			Msg: fmt.Sprintf("handshake message type %d, want 1 (ClientHello)", b[0])}
	}
	if len(b) < 4 {
		return helloNeedMore, 4, nil
	}
	need := 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
	return sized(need, nil, len(b), limit)
}

func sized(need int, err error, have, limit int) (helloState, int, error) {
	switch {
	case err != nil:
		return helloBad, 0, err
	case need > limit:
		return helloBad, need, &fingerprint.ParseError{Code: fingerprint.CodeTooLarge, Offset: 0,
			Msg: fmt.Sprintf("ClientHello of %d bytes exceeds the %d-byte limit", need, limit)}
	case need > have:
		return helloNeedMore, need, nil
	}
	return helloReady, need, nil
}

// notAHello reports whether err says the bytes are simply not a
// ClientHello (another protocol, another handshake message) rather than a
// broken one.
func notAHello(err error) bool {
	c := fingerprint.ErrCode(err)
	return c == fingerprint.CodeNotTLS || c == fingerprint.CodeNotClientHello
}

// claimsHello reports whether b starts with a TLS handshake record whose
// first message type byte is ClientHello (or is not there yet): bytes that
// claim to be a hello, whose parse errors are worth reporting.
func claimsHello(b []byte) bool {
	if len(b) == 0 || b[0] != 0x16 {
		return false
	}
	if len(b) > 1 && b[1] != 0x03 {
		return false
	}
	return len(b) < 6 || b[5] == 0x01
}

// parseOffset returns the byte offset a parse error points at, 0 if none.
func parseOffset(err error) int64 {
	var pe *fingerprint.ParseError
	if errors.As(err, &pe) {
		return int64(pe.Offset)
	}
	return 0
}

// errTruncated is the cause of problems about input that ended inside a
// ClientHello.
var errTruncated = errors.New("input ended inside a ClientHello")

// truncatedError describes a hello cut short: have of need bytes present.
func truncatedError(have, need int) error {
	if need > have {
		return fmt.Errorf("%w: have %d of %d bytes", errTruncated, have, need)
	}
	return fmt.Errorf("%w: have %d bytes", errTruncated, have)
}
