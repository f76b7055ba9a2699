//go:build unix

// Command profilegen captures the built-in emulation profiles from real
// browsers on this machine: it starts fpserver (a fresh data directory,
// free loopback ports, a throwaway CA whose leaf serves localhost), opens
// the fingerprint page in each browser headed under Xvfb with a fresh
// browser profile (so the ClientHello is a first visit, without
// pre_shared_key), once over the HTTP/2 listener and once over the
// HTTP/1.1-only listener, waits until each visit's navigate, fetch, xhr and
// form captures are stored, builds a profile from both visits with
// emulation.Build and writes it as NAME.json into the catalogue directory.
// A browser that sends client hints (chromium) visits both listeners again
// on plain.localhost, a name on which fpserver's page sends no Accept-CH
// (-no-client-hints-host): the profile's header lists are those visits'
// (what the browser sends to sites that never ask for client hints), its
// client_hints lists the localhost visits' (after Accept-CH). Each browser
// then visits once more forced onto QUIC (Chromium: command-line flags;
// Firefox: alt-svc mapping preferences) in a fresh browser profile; that
// visit's HTTP/3 captures give the profile's h3 section, and profilegen
// fails when it yields none.
//
// Usage:
//
//	profilegen [-out DIR] [-browsers chromium,firefox-esr] [-fpserver BIN] [-timeout 2m]
//
// `make profiles` runs it from the repository root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the parsed command line.
type config struct {
	out      string
	browsers []string
	fpserver string
	timeout  time.Duration
	keep     bool
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("profilegen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var browsers string
	fs.StringVar(&cfg.out, "out", "emulation/catalogue", "catalogue `directory` the profiles are written to")
	fs.StringVar(&browsers, "browsers", "chromium,firefox-esr", "comma-separated `browsers` to capture: chromium, firefox-esr")
	fs.StringVar(&cfg.fpserver, "fpserver", "", "fpserver `binary`; empty builds ./cmd/fpserver with the go tool")
	fs.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "time allowed for one browser visit to be captured")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (fpserver data, browser profiles, logs)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: profilegen [flags]")
		fmt.Fprintln(stderr, "Captures built-in emulation profiles from the local chromium and firefox-esr.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "profilegen: unexpected arguments %q\n", fs.Args())
		return 2
	}
	for _, b := range strings.Split(browsers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			if _, ok := browserKinds[b]; !ok {
				fmt.Fprintf(stderr, "profilegen: unknown browser %q (want chromium or firefox-esr)\n", b)
				return 2
			}
			cfg.browsers = append(cfg.browsers, b)
		}
	}
	if len(cfg.browsers) == 0 {
		fmt.Fprintln(stderr, "profilegen: -browsers is empty")
		return 2
	}
	g := &generator{cfg: cfg, log: stderr}
	paths, err := g.generate(ctx)
	for _, p := range paths {
		fmt.Fprintln(stdout, p)
	}
	if err != nil {
		fmt.Fprintf(stderr, "profilegen: %v\n", err)
		return 1
	}
	return 0
}
