// Command fpserver is the guanaco fingerprinting service. Its subcommands:
//
//	fpserver [serve] [flags]
//	fpserver inspect [-pretty] [-v] [FILE...]
//	fpserver profiles [flags] list|curate|show|export|import|rm|pin|unpin
//	fpserver version
//
// serve (the default) serves the pages and API and curates profiles;
// inspect prints the ClientHellos found in raw TLS bytes, hex text, pcap or
// pcapng captures as JSON lines; profiles manages the profile database;
// version prints the module version, the commit and the Go version.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/guanaco-fp/guanaco/internal/buildinfo"
	"github.com/guanaco-fp/guanaco/internal/cliflag"
	// Extended CONNECT (RFC 8441) for the WebSocket probe over HTTP/2: net/http
	// enables it only through GODEBUG=http2xconnect=1, read in its init, which
	// this import sets first (see the package). Tests of this package get it too.
	_ "github.com/guanaco-fp/guanaco/internal/h2xconnect"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run is main with its dependencies explicit, so tests can run the program
// in-process. It cancels the context on SIGINT and SIGTERM.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdin: stdin, Stdout: stdout, Stderr: stderr}
	return m.Run(ctx, args)
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed
	exitUsage = 2 // bad command line
)

// Main is the fpserver program: it holds the process's standard streams and
// dispatches a command line to a subcommand. Tests construct it directly.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv looks up environment variables for flag defaults; nil means
	// os.LookupEnv.
	Getenv func(string) (string, bool)
	// OnListening, when set, is called with each listener's name ("https",
	// "https-h1", "http", "debug") and bound address once it accepts.
	OnListening func(name string, addr net.Addr)
}

const usage = `usage: fpserver [command] [arguments]

commands:
  serve     (the default) serve the fingerprinting pages and JSON API;
            'fpserver serve -h' lists every flag and its environment variable
  inspect   print the TLS ClientHellos and fingerprints found in raw bytes,
            hex text, pcap or pcapng captures, one JSON object per line
  profiles  list, curate, show, export, import, remove and pin the emulation
            profiles in the database
  version   print the module version, the commit it was built from and the
            Go version

Run 'fpserver <command> -h' for a command's flags.
`

// Run runs the command line args (without the program name) and returns
// the process exit status: 0 on success, 1 when the command failed, 2 for a
// bad command line.
func (m *Main) Run(ctx context.Context, args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		return m.serve(ctx, args)
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return m.serve(ctx, rest)
	case "inspect":
		return m.inspect(ctx, rest)
	case "profiles":
		return m.profilesCmd(ctx, rest)
	case "version":
		if len(rest) > 0 {
			fmt.Fprintf(m.Stderr, "fpserver: version takes no arguments\n")
			return exitUsage
		}
		fmt.Fprint(m.Stdout, buildinfo.Read().String("fpserver"))
		return exitOK
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, usage)
		var cfg serveConfig
		fs := m.serveFlags(&cfg)
		fmt.Fprint(m.Stdout, "\nserve flags (each also settable through the environment variable shown):\n")
		cliflag.PrintFlags(m.Stdout, fs, envPrefix)
		return exitOK
	default:
		fmt.Fprintf(m.Stderr, "fpserver: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }
