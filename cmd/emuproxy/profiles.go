package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/emulation/importer"
	"github.com/guanaco-fp/guanaco/store"
)

// defaultProfile is the built-in profile used when nothing else selects one.
const defaultProfile = "chromium-156-linux"

// defaultProfilesDir is the user config dir's guanaco/profiles, or "" when
// the platform has none.
func defaultProfilesDir() string {
	d, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "guanaco", "profiles")
}

// profileSet is the built-in catalogue plus the profiles imported into a
// directory. Imported profiles never share a name with a built-in one.
type profileSet struct {
	builtin  []*emulation.Profile
	imported []*emulation.Profile
	// stored are the profiles of a -profiles-db (emuproxy get).
	stored []*emulation.Profile
	dir    string
}

// loadProfiles reads the catalogue and dir's *.json (dir may be empty or
// missing); an imported profile whose document names no source kind gets
// "imported". An imported file that does not validate, or that shadows a
// built-in name, is reported to warn and skipped.
func loadProfiles(dir string, warn io.Writer) (*profileSet, error) {
	builtin, err := emulation.Catalogue()
	if err != nil {
		return nil, err
	}
	s := &profileSet{builtin: builtin, dir: dir}
	if dir == "" {
		return s, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(warn, "emuproxy: skipping %s: %v\n", f, err)
			continue
		}
		p, err := emulation.Unmarshal(b)
		if err != nil {
			fmt.Fprintf(warn, "emuproxy: skipping %s: %v\n", f, err)
			continue
		}
		if s.builtinNamed(p.Name) != nil {
			fmt.Fprintf(warn, "emuproxy: skipping %s: profile %q is a built-in name\n", f, p.Name)
			continue
		}
		if p.Source.Kind == "" {
			p.Source.Kind = emulation.SourceImported
		}
		s.imported = append(s.imported, p)
	}
	return s, nil
}

func (s *profileSet) builtinNamed(name string) *emulation.Profile {
	for _, p := range s.builtin {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// all returns the built-in profiles, then the imported and the stored
// ones.
func (s *profileSet) all() []*emulation.Profile {
	return slices.Concat(s.builtin, s.imported, s.stored)
}

// addDB adds the profiles stored in the database dsn whose names are not
// taken yet; a taken name is reported to warn.
func (s *profileSet) addDB(ctx context.Context, dsn string, warn io.Writer) error {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("opening -profiles-db: %w", err)
	}
	defer st.Close()
	ps, err := readDBProfiles(ctx, st, slog.New(slog.NewTextHandler(warn, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	for _, p := range ps {
		if slices.ContainsFunc(s.all(), func(q *emulation.Profile) bool { return q.Name == p.Name }) {
			fmt.Fprintf(warn, "emuproxy: skipping stored profile %q: the name is taken\n", p.Name)
			continue
		}
		s.stored = append(s.stored, p)
	}
	return nil
}

// lookup returns the profile called name.
func (s *profileSet) lookup(name string) (*emulation.Profile, error) {
	for _, p := range s.all() {
		if p.Name == name {
			return p, nil
		}
	}
	var names []string
	for _, p := range s.all() {
		names = append(names, p.Name)
	}
	return nil, fmt.Errorf("%w %q (have %s)", emulation.ErrUnknownProfile, name, strings.Join(names, ", "))
}

// importProfile validates the profile JSON in b and stores it in the
// directory as NAME.json (directory 0700, file 0600, written atomically).
// A non-empty rename replaces the document's name (validated as any
// name). A built-in name is refused; an imported profile of the same name
// is replaced.
func (s *profileSet) importProfile(b []byte, rename string) (*emulation.Profile, string, error) {
	if s.dir == "" {
		return nil, "", errors.New("no profiles directory: set -profiles-dir")
	}
	p, err := emulation.Unmarshal(b)
	if err != nil {
		return nil, "", err
	}
	if rename != "" {
		p.Name = rename
		if err := p.Validate(); err != nil {
			return nil, "", fmt.Errorf("-name %q: %w", rename, err)
		}
	}
	if s.builtinNamed(p.Name) != nil {
		return nil, "", fmt.Errorf("profile %q is a built-in name; import it under another with -name NEW", p.Name)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("creating %s: %w", s.dir, err)
	}
	out, err := p.Marshal()
	if err != nil {
		return nil, "", err
	}
	tmp, err := os.CreateTemp(s.dir, ".import-*")
	if err != nil {
		return nil, "", fmt.Errorf("importing %s: %w", p.Name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return nil, "", fmt.Errorf("importing %s: %w", p.Name, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, "", fmt.Errorf("importing %s: %w", p.Name, err)
	}
	path := filepath.Join(s.dir, p.Name+".json")
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, "", fmt.Errorf("importing %s: %w", p.Name, err)
	}
	return p, path, nil
}

const profilesSynopsis = `profiles [flags] list | show NAME | import [-name NEW | -from rama|curl-impersonate] FILE

  list         the built-in profiles, those imported into -profiles-dir and,
               with -profiles-db / -profiles-url, those emuproxy serve would
               read from there: where each comes from (SOURCE: builtin,
               imported, db, url), the document's kind (builtin, imported,
               curated), when a real browser last matched it, how many
               visits corroborate it, and a stale mark
  show NAME    one profile as JSON (-format rama: in rama-ua's profile shape)
  import FILE  validate a profile JSON (as fpserver's /api/profiles serves
               it; FILE - reads stdin) and store it in -profiles-dir,
               under -name NEW when given
  import -from rama FILE | -from curl-impersonate FILE_OR_DIR
               convert published profiles (rama-ua's embed_profiles.json,
               curl-impersonate's signature YAML) and store every record
               that converts; each refused record is reported with its reason`

// listedProfile is one row of 'emuproxy profiles list'.
type listedProfile struct {
	p    *emulation.Profile
	from string
}

// profiles runs `emuproxy profiles`.
func (m *Main) profiles(ctx context.Context, args []string) int {
	fs := m.newFlagSet("profiles", profilesSynopsis)
	dir := fs.String("profiles-dir", defaultProfilesDir(), "`directory` of imported profiles")
	dbDSN := fs.String("profiles-db", "", "also list the profiles of this database `DSN` (list only)")
	listURL := fs.String("profiles-url", "", "also list the profiles a running fpserver serves at this /api/profiles `URL` (list only)")
	cacert := fs.String("cacert", "", "PEM `file` of CA certificates to verify -profiles-url with instead of the system roots")
	format := fs.String("format", "json", "show: output `format`, json (guanaco's profile) or rama (rama-ua's profile shape)")
	from := fs.String("from", "", "import: convert this source `format` (rama or curl-impersonate) instead of reading profile JSON")
	rename := fs.String("name", "", "import: store the profile under this `name` instead of the one in the document (e.g. a profile from fpserver's /api/profiles/visit/{key}, which carries a built-in name)")
	rest, code := m.parse(fs, args)
	if code >= 0 {
		return code
	}
	if len(rest) == 0 {
		fs.Usage()
		return exitUsage
	}
	set, err := loadProfiles(*dir, m.Stderr)
	if err != nil {
		fmt.Fprintf(m.Stderr, "emuproxy: %v\n", err)
		return exitFail
	}
	switch {
	case rest[0] == "list" && len(rest) == 1:
		rows, err := m.listProfiles(ctx, set, *dbDSN, *listURL, *cacert)
		if err != nil {
			fmt.Fprintf(m.Stderr, "emuproxy: %v\n", err)
			return exitFail
		}
		if err := writeProfileList(m.Stdout, rows); err != nil {
			fmt.Fprintf(m.Stderr, "emuproxy: %v\n", err)
			return exitFail
		}
		return exitOK
	case rest[0] == "show" && len(rest) == 2:
		p, err := set.lookup(rest[1])
		if err != nil {
			fmt.Fprintf(m.Stderr, "emuproxy: %v\n", err)
			return exitFail
		}
		var b []byte
		switch *format {
		case "json":
			b, err = p.Marshal()
		case "rama":
			b, err = importer.ToRama(p)
		default:
			fmt.Fprintf(m.Stderr, "emuproxy: unknown -format %q (json or rama)\n", *format)
			return exitUsage
		}
		if err != nil {
			fmt.Fprintf(m.Stderr, "emuproxy: %v\n", err)
			return exitFail
		}
		if _, err := m.Stdout.Write(b); err != nil {
			return exitFail
		}
		return exitOK
	case rest[0] == "import" && len(rest) == 2 && *from != "" && *rename != "":
		fmt.Fprintln(m.Stderr, "emuproxy: -name renames one profile JSON; it does not go with -from")
		return exitUsage
	case rest[0] == "import" && len(rest) == 2 && *from != "":
		return m.importFrom(set, *from, rest[1])
	case rest[0] == "import" && len(rest) == 2:
		var b []byte
		if rest[1] == "-" {
			b, err = io.ReadAll(io.LimitReader(m.Stdin, 16<<20))
		} else {
			b, err = os.ReadFile(rest[1])
		}
		if err != nil {
			fmt.Fprintf(m.Stderr, "emuproxy: reading %s: %v\n", rest[1], err)
			return exitFail
		}
		p, path, err := set.importProfile(b, *rename)
		if err != nil {
			fmt.Fprintf(m.Stderr, "emuproxy: importing %s: %v\n", rest[1], err)
			return exitFail
		}
		fmt.Fprintf(m.Stdout, "imported %s (%s %s %s) to %s\n", p.Name, p.Browser, p.Version, p.Platform, path)
		return exitOK
	}
	fs.Usage()
	return exitUsage
}

// listProfiles gathers the rows of 'profiles list' in the order emuproxy
// serve merges its sources; a name taken by an earlier source is skipped
// with a warning, as serve does.
func (m *Main) listProfiles(ctx context.Context, set *profileSet, dsn, listURL, cacert string) ([]listedProfile, error) {
	var rows []listedProfile
	for _, p := range set.builtin {
		rows = append(rows, listedProfile{p, "builtin"})
	}
	for _, p := range set.imported {
		rows = append(rows, listedProfile{p, "imported"})
	}
	log := slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	add := func(ps []*emulation.Profile, from string) {
		for _, p := range ps {
			if slices.ContainsFunc(rows, func(r listedProfile) bool { return r.p.Name == p.Name }) {
				fmt.Fprintf(m.Stderr, "emuproxy: skipping %s profile %q: the name is taken\n", from, p.Name)
				continue
			}
			rows = append(rows, listedProfile{p, from})
		}
	}
	if dsn != "" {
		st, err := store.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("opening -profiles-db: %w", err)
		}
		ps, err := readDBProfiles(ctx, st, log)
		_ = st.Close()
		if err != nil {
			return nil, err
		}
		add(ps, "db")
	}
	if listURL != "" {
		roots, err := readRoots(cacert)
		if err != nil {
			return nil, err
		}
		src := &profileSource{cfg: serveConfig{profilesURL: listURL}, client: profilesClient(roots), log: log}
		ps, err := src.fetchURL(ctx)
		if err != nil {
			return nil, err
		}
		add(ps, "url")
	}
	return rows, nil
}

// writeProfileList prints the rows as a table.
func writeProfileList(w io.Writer, rows []listedProfile) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tBROWSER\tVERSION\tPLATFORM\tSOURCE\tKIND\tLAST SEEN\tVISITS\tSTALE\tJA4\tAKAMAI")
	dash := func(s string) string { return cmp.Or(s, "-") }
	for _, r := range rows {
		p, src := r.p, r.p.Source
		seen, visits, stale := "-", "-", "-"
		if !src.LastSeen.IsZero() {
			seen = src.LastSeen.UTC().Format("2006-01-02 15:04")
		}
		if src.Visits > 0 {
			visits = strconv.FormatInt(src.Visits, 10)
		}
		if src.Stale {
			stale = "stale"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, dash(p.Browser), dash(p.Version), dash(p.Platform),
			r.from, dash(src.Kind), seen, visits, stale, dash(p.Expected.JA4), dash(p.Expected.AkamaiHash))
	}
	return tw.Flush()
}

// importFrom runs `profiles import -from FORMAT PATH`: every converted
// record is completed from the built-in profiles of its engine family
// (importer.Complete, as the built-in imported profiles are) and stored;
// a record the catalogue already holds (same origin record) is reported as
// built in; a record whose name a different built-in profile has is stored
// with the source's suffix (-rama, -curlimp); every refused one is reported
// on stderr. The status is non-zero when nothing was imported or found
// built in.
func (m *Main) importFrom(set *profileSet, from, path string) int {
	res, err := importer.Convert(from, path)
	if err != nil {
		fmt.Fprintf(m.Stderr, "emuproxy: %v\n", err)
		return exitFail
	}
	for _, pr := range res.Problems {
		fmt.Fprintf(m.Stderr, "emuproxy: refused %s\n", pr)
	}
	imported, builtin := 0, 0
	for _, p := range res.Profiles {
		if b := set.builtinNamed(p.Name); b != nil {
			if o := b.Source.Origin; o != nil && o.Project == p.Source.Origin.Project && o.Record == p.Source.Origin.Record {
				builtin++
				fmt.Fprintf(m.Stdout, "built in: %s (%s)\n", p.Name, o.Record)
				continue
			}
			p.Name += importer.NameSuffix(from)
		}
		importer.Complete(p, set.builtin)
		b, err := p.Marshal()
		if err == nil {
			var path string
			if _, path, err = set.importProfile(b, ""); err == nil {
				imported++
				fmt.Fprintf(m.Stdout, "imported %s (%s %s %s) to %s\n", p.Name, p.Browser, p.Version, p.Platform, path)
				continue
			}
		}
		fmt.Fprintf(m.Stderr, "emuproxy: refused %s: %v\n", p.Source.Origin.Record, err)
	}
	fmt.Fprintf(m.Stdout, "%d imported, %d built in, %d refused\n", imported, builtin, len(res.Profiles)+len(res.Problems)-imported-builtin)
	if imported+builtin == 0 {
		return exitFail
	}
	return exitOK
}
