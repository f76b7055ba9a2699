// Command emuproxy sends HTTP requests that fingerprint like a real
// browser: the TLS ClientHello, HTTP/2 framing and header order and values
// come from a browser profile (emulation.Profile) that fpserver captured.
// Its subcommands:
//
//	emuproxy get [flags] URL           one request, response body to stdout
//	emuproxy profiles list             built-in and imported profiles
//	emuproxy profiles show NAME        one profile as JSON
//	emuproxy profiles import FILE      validate and store a profile JSON
//	emuproxy serve [flags]             the forward proxy
//	emuproxy ca [flags]                the local CA's path and PEM
//	emuproxy version                   module version, commit, Go version
//
// Every flag can also be set with an environment variable EMUPROXY_<FLAG>
// (upper case, '-' as '_'); the command line wins. See `emuproxy CMD -h`.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/guanaco-fp/guanaco/internal/buildinfo"
	"github.com/guanaco-fp/guanaco/internal/cliflag"
	// The tunnels' HTTP/2 server offers extended CONNECT (RFC 8441), so
	// that browsers open WebSockets through the proxy as they do directly.
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

// envPrefix starts the environment variable of every flag.
const envPrefix = "EMUPROXY_"

// Main is the emuproxy program: it holds the process's standard streams and
// dispatches a command line to a subcommand. Tests construct it directly.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv looks up environment variables for flag defaults; nil means
	// os.LookupEnv.
	Getenv func(string) (string, bool)
}

const usage = `usage: emuproxy command [arguments]

commands:
  get       send one request through a browser profile and write the
            response body to stdout
  profiles  list, show or import browser profiles
  serve     run the forward proxy (HTTP and CONNECT with local-CA TLS)
  ca        print the local CA certificate's path and PEM
  version   print the module version, the commit and the Go version

Run 'emuproxy <command> -h' for a command's flags.
`

// Run executes one command line and returns the exit status.
func (m *Main) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "get":
		return m.get(ctx, rest)
	case "profiles":
		return m.profiles(ctx, rest)
	case "serve":
		return m.serve(ctx, rest)
	case "ca":
		return m.caCmd(ctx, rest)
	case "version", "-version", "--version":
		if len(rest) != 0 {
			fmt.Fprintln(m.Stderr, "usage: emuproxy version")
			return exitUsage
		}
		fmt.Fprint(m.Stdout, buildinfo.Read().String("emuproxy"))
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(m.Stdout, usage)
		var cfg serveConfig
		fs := m.serveFlags(&cfg)
		fmt.Fprint(m.Stdout, "\nserve flags (each also settable through the environment variable shown):\n")
		cliflag.PrintFlags(m.Stdout, fs, envPrefix)
		return exitOK
	}
	fmt.Fprintf(m.Stderr, "emuproxy: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

func (m *Main) getenv(name string) (string, bool) {
	if m.Getenv != nil {
		return m.Getenv(name)
	}
	return os.LookupEnv(name)
}

// newFlagSet returns a flag set for subcommand name whose -h lists every
// flag with its environment variable.
func (m *Main) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("emuproxy "+name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(m.Stderr, "usage: emuproxy %s\n\nflags:\n", synopsis)
		cliflag.PrintFlags(m.Stderr, fs, envPrefix)
	}
	return fs
}

// parse applies the environment, then the command line, to fs; flags may
// come before, between and after the positional arguments ("--" ends the
// flags). It returns the positional arguments and the exit status to stop
// with, or -1 to go on.
func (m *Main) parse(fs *flag.FlagSet, args []string) ([]string, int) {
	if err := cliflag.ApplyEnv(fs, envPrefix, m.getenv); err != nil {
		fmt.Fprintf(m.Stderr, "emuproxy: %v\n", err)
		return nil, exitUsage
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, exitOK
			}
			return nil, exitUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, -1
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), -1
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}
