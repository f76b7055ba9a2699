// Package migrations embeds the numbered SQL schema migrations of every storage
// dialect. Files live in one directory per dialect (postgres/, sqlite/) and are
// named NNNN_description.sql; NNNN is the version, applied in ascending order. Both
// dialects carry the same list of names (a test enforces it), so a schema version
// means the same thing in both backends.
//
// Backends apply the migrations they have not yet recorded, each inside its own
// transaction, and record them in the schema_migrations table (see TableDDL).
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names a SQL dialect directory.
type Dialect string

// The supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Migration is one numbered schema change.
type Migration struct {
	// Version is the NNNN prefix of the file name.
	Version int
	// Name is the file name without directory, e.g. "0001_init.sql".
	Name string
	// SQL is the file content: one or more statements.
	SQL string
}

// List returns the migrations of dialect d ordered by version. It fails if a file
// name is malformed or two files share a version.
func List(d Dialect) ([]Migration, error) {
	if d != Postgres && d != SQLite {
		return nil, fmt.Errorf("migrations: unknown dialect %q", d)
	}
	entries, err := fs.ReadDir(files, string(d))
	if err != nil {
		return nil, fmt.Errorf("migrations: reading %s: %w", d, err)
	}
	out := make([]Migration, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		v, err := parseVersion(name)
		if err != nil {
			return nil, err
		}
		b, err := files.ReadFile(path.Join(string(d), name))
		if err != nil {
			return nil, fmt.Errorf("migrations: reading %s/%s: %w", d, name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations: %s: duplicate version %d (%s, %s)", d, out[i].Version, out[i-1].Name, out[i].Name)
		}
	}
	return out, nil
}

// parseVersion extracts NNNN from "NNNN_description.sql".
func parseVersion(name string) (int, error) {
	base, ok := strings.CutSuffix(name, ".sql")
	if !ok {
		return 0, fmt.Errorf("migrations: %q: not a .sql file", name)
	}
	num, desc, ok := strings.Cut(base, "_")
	if !ok || len(num) != 4 || desc == "" {
		return 0, fmt.Errorf("migrations: %q: want NNNN_description.sql", name)
	}
	v, err := strconv.Atoi(num)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("migrations: %q: bad version number", name)
	}
	return v, nil
}

// TableDDL returns the statement that creates the table recording applied
// migrations (version, name, applied_at) if it does not exist yet.
func TableDDL(d Dialect) string {
	if d == SQLite {
		return `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`
	}
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`
}

// Plan compares the migrations recorded in a database (version -> name) with the
// embedded list and returns the ones still to apply, in order. It fails when the
// database records a version this binary does not know (a newer schema) or a version
// under a different name (a diverged history): running on such a schema is unsafe.
func Plan(all []Migration, applied map[int]string) ([]Migration, error) {
	known := make(map[int]string, len(all))
	for _, m := range all {
		known[m.Version] = m.Name
	}
	versions := make([]int, 0, len(applied))
	for v := range applied {
		versions = append(versions, v)
	}
	sort.Ints(versions)
	for _, v := range versions {
		name, ok := known[v]
		if !ok {
			return nil, fmt.Errorf("migrations: database has migration %d (%s) unknown to this binary; refusing to run on a newer schema", v, applied[v])
		}
		if name != applied[v] {
			return nil, fmt.Errorf("migrations: database migration %d is %q, this binary has %q", v, applied[v], name)
		}
	}
	var todo []Migration
	for _, m := range all {
		if _, ok := applied[m.Version]; !ok {
			todo = append(todo, m)
		}
	}
	return todo, nil
}
