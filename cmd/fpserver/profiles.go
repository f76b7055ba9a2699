package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/guanaco-fp/guanaco/curate"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/emulation/importer"
	"github.com/guanaco-fp/guanaco/internal/cliflag"
	"github.com/guanaco-fp/guanaco/store"
)

// curateConfig are the curation flags shared by `fpserver serve` and
// `fpserver profiles curate`.
type curateConfig struct {
	enabled    bool
	interval   time.Duration
	quorum     int
	settle     time.Duration
	lookback   time.Duration
	staleAfter time.Duration
}

func addCurateFlags(fs *flag.FlagSet, c *curateConfig, withSwitch bool) {
	if withSwitch {
		fs.BoolVar(&c.enabled, "curate", true, "publish emulation profiles from corroborated visits of real browsers")
		fs.DurationVar(&c.interval, "curate-interval", time.Minute, "time between curation passes")
	}
	fs.IntVar(&c.quorum, "curate-quorum", curate.DefaultQuorum, "distinct visits and distinct client addresses that must agree before a profile is published (a local instance may use 1)")
	fs.DurationVar(&c.settle, "curate-settle", curate.DefaultSettle, "how long a visit must be quiet before curation judges it")
	fs.DurationVar(&c.lookback, "curate-lookback", curate.DefaultLookback, "how far back curation looks for visits not judged yet")
	fs.DurationVar(&c.staleAfter, "profile-stale", curate.DefaultStaleAfter, "mark a curated profile stale after this long without a matching visit")
}

func (c curateConfig) curatorConfig(st store.Store) curate.Config {
	return curate.Config{Store: st, Quorum: c.quorum, Settle: c.settle, Lookback: c.lookback, StaleAfter: c.staleAfter}
}

const profilesUsage = `usage: fpserver profiles [flags] COMMAND [ARGS]

Manage the emulation profiles in fpserver's database (the one 'fpserver
serve' uses: -db, or DATA/fpserver.db).

commands:
  list            every profile: source, browser, freshness, corroboration
  curate          run one curation pass now and print what it did (JSON)
  show NAME       print a profile's JSON document
  export [NAME..] print profiles as {"profiles": [...]} (all when no NAME)
  import FILE     import a profile JSON or a {"profiles": [...]} list ("-" reads
                  standard input); imported profiles are never changed by curation
  import -from rama|curl-impersonate PATH
                  convert published profiles (rama-ua's embed_profiles.json, a
                  curl-impersonate signature YAML or directory of them) and
                  import every record that converts; refused records are
                  reported one a line with the reason
  rm NAME         delete a profile
  pin NAME        keep a curated profile's document as it is (counts still update)
  unpin NAME      let curation update it again

Flags (each also settable through the environment variable shown):
`

// profilesCmd runs `fpserver profiles`.
func (m *Main) profilesCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("profiles", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	dataDir := fs.String("data", "data", "data `directory` holding the default SQLite database")
	dsn := fs.String("db", "", "database `DSN`: postgres://... or an SQLite file path (default DATA/fpserver.db)")
	var cc curateConfig
	addCurateFlags(fs, &cc, false)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), profilesUsage)
		cliflag.PrintFlags(fs.Output(), fs, envPrefix)
	}
	getenv := m.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if err := cliflag.ApplyEnv(fs, envPrefix, getenv); err != nil {
		fmt.Fprintf(m.Stderr, "fpserver: %v\n", err)
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return exitUsage
	}
	cmd, rest := rest[0], rest[1:]
	wantArgs := map[string][2]int{ // min, max (-1: any)
		"list": {0, 0}, "curate": {0, 0}, "show": {1, 1}, "export": {0, -1},
		"import": {1, 3}, "rm": {1, 1}, "pin": {1, 1}, "unpin": {1, 1},
	}
	n, ok := wantArgs[cmd]
	if !ok {
		fmt.Fprintf(m.Stderr, "fpserver profiles: unknown command %q\n", cmd)
		fs.Usage()
		return exitUsage
	}
	if len(rest) < n[0] || n[1] >= 0 && len(rest) > n[1] {
		fmt.Fprintf(m.Stderr, "fpserver profiles %s: wrong number of arguments\n", cmd)
		return exitUsage
	}
	if *dsn == "" {
		*dsn = filepath.Join(*dataDir, "fpserver.db")
		if err := os.MkdirAll(*dataDir, 0o700); err != nil {
			fmt.Fprintf(m.Stderr, "fpserver: %v\n", err)
			return exitFail
		}
	}
	st, err := store.Open(ctx, *dsn)
	if err != nil {
		fmt.Fprintf(m.Stderr, "fpserver: opening store: %v\n", err)
		return exitFail
	}
	defer st.Close()
	pc := profilesCLI{st: st, out: m.Stdout, in: m.Stdin}
	switch cmd {
	case "list":
		err = pc.list(ctx)
	case "curate":
		err = pc.curate(ctx, cc)
	case "show":
		err = pc.show(ctx, rest[0])
	case "export":
		err = pc.export(ctx, rest)
	case "import":
		if len(rest) == 1 {
			err = pc.importFile(ctx, rest[0])
		} else {
			err = pc.importFrom(ctx, rest, m.Stderr)
		}
	case "rm":
		err = st.DeleteProfile(ctx, rest[0])
		if err == nil {
			fmt.Fprintf(m.Stdout, "deleted %s\n", rest[0])
		}
	case "pin", "unpin":
		err = pc.pin(ctx, rest[0], cmd == "pin")
	}
	if err != nil {
		fmt.Fprintf(m.Stderr, "fpserver profiles %s: %v\n", cmd, err)
		return exitFail
	}
	return exitOK
}

// profilesCLI carries the store and streams of one `fpserver profiles` run.
type profilesCLI struct {
	st  store.Store
	out io.Writer
	in  io.Reader
}

func (c profilesCLI) list(ctx context.Context) error {
	ps, err := c.st.ListProfiles(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tBROWSER\tVERSION\tPLATFORM\tVISITS\tADDRESSES\tLAST SEEN\tSTATE")
	for _, p := range ps {
		state := "fresh"
		switch {
		case p.Stale:
			state = "stale"
		case p.Source != store.ProfileCurated:
			state = "-"
		}
		if p.Pinned {
			state += ",pinned"
		}
		last := "-"
		if !p.LastSeen.IsZero() {
			last = p.LastSeen.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", p.Name, p.Source, p.Browser, p.Version, p.Platform,
			p.Visits, p.Addresses, last, state)
	}
	return tw.Flush()
}

func (c profilesCLI) curate(ctx context.Context, cc curateConfig) error {
	cu, err := curate.New(cc.curatorConfig(c.st))
	if err != nil {
		return err
	}
	rep, err := cu.Pass(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func (c profilesCLI) show(ctx context.Context, name string) error {
	p, err := c.st.Profile(ctx, name)
	if err != nil {
		return err
	}
	return writeIndented(c.out, p.JSON)
}

func writeIndented(w io.Writer, doc json.RawMessage) error {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("decoding stored document: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (c profilesCLI) export(ctx context.Context, names []string) error {
	var docs []json.RawMessage
	if len(names) == 0 {
		ps, err := c.st.ListProfiles(ctx)
		if err != nil {
			return err
		}
		for _, p := range ps {
			docs = append(docs, p.JSON)
		}
	}
	for _, n := range names {
		p, err := c.st.Profile(ctx, n)
		if err != nil {
			return err
		}
		docs = append(docs, p.JSON)
	}
	if docs == nil {
		docs = []json.RawMessage{}
	}
	b, err := json.Marshal(struct {
		Profiles []json.RawMessage `json:"profiles"`
	}{docs})
	if err != nil {
		return err
	}
	return writeIndented(c.out, b)
}

// importFile stores every profile of a profile JSON file or list as
// source "imported". All are validated before any is written.
func (c profilesCLI) importFile(ctx context.Context, path string) error {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(c.in, 64<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return err
	}
	ps, err := emulation.UnmarshalList(b)
	if err != nil {
		return err
	}
	for _, p := range ps {
		p.Source.Stale = false
		if err := c.storeImported(ctx, p); err != nil {
			return fmt.Errorf("storing %s: %w", p.Name, err)
		}
		fmt.Fprintf(c.out, "imported %s (%s %s, %s)\n", p.Name, p.Browser, p.Version, p.Platform)
	}
	return nil
}

// storeImported stores p as an imported profile (source kind and row source
// "imported").
func (c profilesCLI) storeImported(ctx context.Context, p *emulation.Profile) error {
	p.Source.Kind = emulation.SourceImported
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	return c.st.UpsertProfile(ctx, store.Profile{Name: p.Name, Browser: p.Browser, Version: p.Version, Platform: p.Platform,
		JSON: doc, Source: store.ProfileImported})
}

// importFrom runs `profiles import -from FORMAT PATH`: every record that
// converts is completed from the built-in profiles of its engine family
// (importer.Complete, as the built-in imported profiles are) and stored as
// source "imported", every refused one is reported on errw; an error when
// nothing at all was imported.
func (c profilesCLI) importFrom(ctx context.Context, args []string, errw io.Writer) error {
	fs := flag.NewFlagSet("profiles import", flag.ContinueOnError)
	fs.SetOutput(errw)
	from := fs.String("from", "", "source `format`: "+strings.Join(importer.Sources(), " or "))
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *from == "" {
		return errors.New("usage: import -from rama|curl-impersonate PATH")
	}
	res, err := importer.Convert(*from, fs.Arg(0))
	if err != nil {
		return err
	}
	for _, pr := range res.Problems {
		fmt.Fprintf(errw, "fpserver profiles import: refused %s\n", pr)
	}
	templates, err := emulation.Catalogue()
	if err != nil {
		return err
	}
	imported := 0
	for _, p := range res.Profiles {
		importer.Complete(p, templates)
		if err := c.storeImported(ctx, p); err != nil {
			fmt.Fprintf(errw, "fpserver profiles import: refused %s: storing: %v\n", p.Source.Origin.Record, err)
			continue
		}
		imported++
		fmt.Fprintf(c.out, "imported %s (%s %s, %s)\n", p.Name, p.Browser, p.Version, p.Platform)
	}
	fmt.Fprintf(c.out, "%d imported, %d refused\n", imported, len(res.Profiles)+len(res.Problems)-imported)
	if imported == 0 {
		return errors.New("no record imported")
	}
	return nil
}

func (c profilesCLI) pin(ctx context.Context, name string, pin bool) error {
	p, err := c.st.Profile(ctx, name)
	if err != nil {
		return err
	}
	p.Pinned = pin
	p.UpdatedAt = time.Time{}
	if err := c.st.UpsertProfile(ctx, p); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s pinned: %s\n", name, strconv.FormatBool(pin))
	return nil
}
