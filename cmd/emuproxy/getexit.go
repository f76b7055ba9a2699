package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/guanaco-fp/guanaco/emulation/upstream"
)

// Exit statuses of `emuproxy get`, by failure class, as curl's (see
// curl(1) EXIT CODES), so that scripts written for curl read them alike.
const (
	getExitUnsupported = 1  // unsupported protocol
	getExitURL         = 3  // malformed URL
	getExitProxyHost   = 5  // could not resolve the proxy
	getExitResolve     = 6  // could not resolve the host
	getExitConnect     = 7  // failed to connect to the host or the proxy
	getExitHTTP        = 22 // -f and a status of 400 or more
	getExitWrite       = 23 // writing the output failed
	getExitRead        = 26 // reading a local file (-d @FILE, -b) failed
	getExitTimeout     = 28 // --max-time passed
	getExitTLS         = 35 // TLS handshake failed
	getExitRedirects   = 47 // more than --max-redirs redirects
	getExitRecv        = 56 // failure receiving network data
	getExitCert        = 60 // the server's certificate is not trusted
	getExitProxy       = 97 // the proxy refused or failed the tunnel
)

// getError is a failure of `emuproxy get` with its exit status.
type getError struct {
	code int
	err  error
}

func (e *getError) Error() string { return e.err.Error() }
func (e *getError) Unwrap() error { return e.err }

// withCode returns err with exit status code.
func withCode(code int, err error) error { return &getError{code: code, err: err} }

// classify returns the exit status of err and the message to print: the
// error itself, with a hint where the user can act (a certificate that is
// not trusted names -cacert and -k).
func classify(err error) (int, string) {
	var ge *getError
	if errors.As(err, &ge) {
		return ge.code, ge.err.Error()
	}
	var (
		reach     *upstream.ReachError
		dnsErr    *net.DNSError
		netErr    net.Error
		unknown   x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
	)
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return getExitTimeout, "operation timed out (--max-time): " + msg
	case errors.As(err, &reach) && errors.As(err, &dnsErr):
		return getExitProxyHost, "could not resolve the proxy: " + msg
	case errors.As(err, &reach):
		return getExitConnect, "could not connect to the proxy: " + msg
	case errors.Is(err, upstream.ErrProxy):
		return getExitProxy, msg
	case errors.As(err, &dnsErr):
		return getExitResolve, "could not resolve host: " + msg
	case errors.As(err, &unknown), errors.As(err, &verifyErr) && !errors.As(err, &hostname) && !errors.As(err, &invalid):
		return getExitCert, msg + "\n(the server's certificate is not trusted: give its CA with -cacert FILE, or skip verification with -k/--insecure)"
	case errors.As(err, &hostname), errors.As(err, &invalid):
		return getExitCert, msg + "\n(the server's certificate does not verify; -k/--insecure skips verification)"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), isDialError(err):
		return getExitConnect, "could not connect: " + msg
	case strings.Contains(msg, "TLS handshake"):
		return getExitTLS, msg
	}
	return getExitRecv, msg
}

// isDialError reports whether err is a failed TCP dial.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// errorf is fmt.Errorf with an exit status.
func errorf(code int, format string, args ...any) error {
	return withCode(code, fmt.Errorf(format, args...))
}
