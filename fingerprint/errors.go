package fingerprint

import (
	"errors"
	"fmt"
)

// ErrorCode classifies a parse failure. Codes are stable strings that callers
// may log, count in metrics and return in API errors.
type ErrorCode string

// Error codes shared by every parser in this package.
const (
	// CodeTruncated: the input ended before a length-prefixed field did.
	CodeTruncated ErrorCode = "truncated"
	// CodeNotTLS: the bytes are not a TLS handshake record or message.
	CodeNotTLS ErrorCode = "not_tls"
	// CodeNotClientHello: a handshake message of another type.
	CodeNotClientHello ErrorCode = "not_client_hello"
	// CodeTooLarge: a length exceeds the protocol maximum or our cap.
	CodeTooLarge ErrorCode = "too_large"
	// CodeBadLength: a length field disagrees with its container.
	CodeBadLength ErrorCode = "bad_length"
	// CodeDuplicateExtension: the same extension type appears twice.
	CodeDuplicateExtension ErrorCode = "duplicate_extension"
	// CodeMalformed: a field's content violates its encoding rules.
	CodeMalformed ErrorCode = "malformed"
	// CodeBadPreface: an HTTP/2 stream not starting with the client preface.
	CodeBadPreface ErrorCode = "bad_preface"
	// CodeProtocol: an HTTP/1 or HTTP/2 protocol violation.
	CodeProtocol ErrorCode = "protocol"
	// CodeHPACK: the HPACK decoder rejected a header block.
	CodeHPACK ErrorCode = "hpack"
)

// ParseError is the error every parser in this package returns for bad
// input. Offset is the byte offset, from the start of the input given to the
// parser, at which the problem was detected.
type ParseError struct {
	Code   ErrorCode
	Offset int
	Msg    string
	Err    error // optional underlying cause

	// kind classifies a content problem inside an extension's data, which
	// the ClientHello parser records as an Anomaly instead of failing;
	// "" for errors that only say where the bytes went wrong.
	kind AnomalyKind
}

func (e *ParseError) Error() string {
	s := fmt.Sprintf("fingerprint: %s at offset %d: %s", e.Code, e.Offset, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ParseError) Unwrap() error { return e.Err }

// Is reports whether target is a *ParseError with the same Code, so callers
// can write errors.Is(err, &ParseError{Code: CodeTruncated}).
func (e *ParseError) Is(target error) bool {
	var t *ParseError
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// ErrCode returns the ErrorCode of err if it is (or wraps) a *ParseError,
// and "" otherwise.
func ErrCode(err error) ErrorCode {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func errAt(code ErrorCode, off int, format string, args ...any) *ParseError {
	return &ParseError{Code: code, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// kindErrAt is errAt for a content problem of the given kind.
func kindErrAt(kind AnomalyKind, code ErrorCode, off int, format string, args ...any) *ParseError {
	pe := errAt(code, off, format, args...)
	pe.kind = kind
	return pe
}
