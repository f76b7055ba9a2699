package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/inspect"
)

const inspectUsage = `usage: fpserver inspect [-pretty] [-v] [FILE...]

Print every TLS ClientHello found in each FILE (standard input when there is
none, or for "-") as one JSON object per line, with its JA3, JA3N, JA4
(+_r, _o, _ro) and PeetPrint fingerprints. The input format is detected:

  raw        TLS records holding ClientHellos (16 03 ..), bare ClientHello
             messages (01 ..) or QUIC v1/v2 Initial packets, back to back
  hex        the same as hex text: spaces, newlines, ':' or ',' between
             bytes, 0x prefixes and '#' comment lines are allowed
  pcap       libpcap captures, any byte order, micro or nanosecond times
  pcapng     pcapng captures, several interfaces and sections
  gzip       any of the above, gzip-compressed

In captures TCP streams are reassembled, IP fragments joined and QUIC
Initial packets decrypted; flows that carry no ClientHello are skipped.

Fields: source (FILE, plus "#client->server" for captures), sni, alpn,
tls_version (highest offered, "0x0304"), tls_version_name, ciphers and
extensions (wire order, GREASE kept), ja3, ja3_hash, ja3n, ja3n_hash, ja4,
ja4_r, ja4_o, ja4_ro, peetprint, peetprint_hash, transport ("tcp" or "quic"),
and when known time, packet (frame number) and offset (in raw and hex FILEs;
in captures, the stream offset of a hello that does not start its stream).

A client->server stream (in a capture, or a raw dump of one) that does not
start with a ClientHello is scanned for one in its first 64 KiB (after a STARTTLS exchange, an HTTP CONNECT, a
SOCKS handshake, a MySQL or PostgreSQL SSLRequest); preamble then names the
protocol before it (smtp, imap, pop3, ftp, xmpp, ldap, http-connect, socks4,
socks5, mysql, postgresql, or unknown).

A hello whose extensions break their RFCs inside sound framing (an empty
ALPN protocol name, an empty ec_point_formats list, an odd-length list, a
repeated extension) is fingerprinted as Wireshark and FoxIO's tools do and
carries anomalies: [{extension, name, kind, offset, message}].

Problems (an unparseable hello, a stream cut short) are reported on
standard error with the file, stream and byte offset, and reading goes on.
The exit status is 0 when at least one ClientHello was printed, 1 when none
was, 2 for a bad command line.

Flags:
`

// inspect runs `fpserver inspect`.
func (m *Main) inspect(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	pretty := fs.Bool("pretty", false, "indent the JSON objects (the output is then not one object per line)")
	verbose := fs.Bool("v", false, "report on standard error what was read from each input")
	ja4oPython := fs.Bool("ja4o-python", false, "print ja4_o as FoxIO's Python reference does: a zero hash when SNI and ALPN are the only extensions (default: the original list hashed, as FoxIO's Rust crate does)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), inspectUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}

	enc := json.NewEncoder(m.Stdout)
	enc.SetEscapeHTML(false)
	if *pretty {
		enc.SetIndent("", "  ")
	}
	h := inspect.HandlerFuncs{
		HelloFunc: func(r inspect.Record) error {
			if *ja4oPython {
				r.JA4O = fingerprint.JA4OPython(r.JA4O, r.Extensions)
			}
			if err := enc.Encode(r); err != nil {
				return &outputError{err: err}
			}
			return nil
		},
		ProblemFunc: func(e *inspect.Error) {
			fmt.Fprintf(m.Stderr, "fpserver inspect: %v\n", e)
		},
	}
	in := inspect.New(inspect.Options{})
	hellos := 0
	for _, name := range files {
		if ctx.Err() != nil {
			fmt.Fprintf(m.Stderr, "fpserver inspect: %v\n", ctx.Err())
			return exitFail
		}
		st, err := m.inspectOne(ctx, in, name, h)
		hellos += st.Hellos
		var oe *outputError
		if errors.As(err, &oe) {
			fmt.Fprintf(m.Stderr, "fpserver inspect: writing output: %v\n", oe.err)
			return exitFail
		}
		if err != nil {
			fmt.Fprintf(m.Stderr, "fpserver inspect: %v\n", err)
		} else if st.Hellos == 0 && st.Problems == 0 {
			fmt.Fprintf(m.Stderr, "fpserver inspect: %s: no ClientHello found\n", name)
		}
		if *verbose {
			fmt.Fprintf(m.Stderr, "fpserver inspect: %s: %s\n", name, describe(st))
		}
	}
	if hellos == 0 {
		return exitFail
	}
	return exitOK
}

// inspectOne inspects one named input ("-" is standard input).
func (m *Main) inspectOne(ctx context.Context, in *inspect.Inspector, name string, h inspect.Handler) (inspect.Stats, error) {
	var r io.Reader = m.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return inspect.Stats{}, err
		}
		defer f.Close()
		r = f
	}
	return in.Inspect(ctx, name, r, h)
}

// outputError marks a failure to write standard output, which ends the run.
type outputError struct{ err error }

func (e *outputError) Error() string { return "writing output: " + e.err.Error() }
func (e *outputError) Unwrap() error { return e.err }

// describe summarises the Stats of one input for -v.
func describe(st inspect.Stats) string {
	var b strings.Builder
	b.WriteString(st.Format.String())
	if st.Gzip {
		b.WriteString(" (gzip)")
	}
	if st.Format == inspect.FormatPcap || st.Format == inspect.FormatPcapNG {
		fmt.Fprintf(&b, ", %d packets (%d not decodable as TCP/UDP over IP)", st.Packets, st.Undecodable)
		fmt.Fprintf(&b, ", %d TCP streams with data, %d flows without a ClientHello skipped", st.TCPStreams, st.NotTLS)
		fmt.Fprintf(&b, ", %d QUIC flows, %d QUIC Initial packets not decryptable with client keys", st.QUICFlows, st.Undecryptable)
		if st.Evicted > 0 {
			fmt.Fprintf(&b, ", %d flows dropped at the memory limits", st.Evicted)
		}
	}
	fmt.Fprintf(&b, ", %d ClientHellos, %d problems", st.Hellos, st.Problems)
	return b.String()
}
