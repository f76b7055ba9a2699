package migrations

import (
	"strings"
	"testing"
)

// TestDialectsHaveSameMigrations enforces that a schema version means the same thing
// in every backend: both dialects must carry the same file names.
func TestDialectsHaveSameMigrations(t *testing.T) {
	pg, err := List(Postgres)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := List(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) == 0 {
		t.Fatal("no postgres migrations embedded")
	}
	if len(pg) != len(lite) {
		t.Fatalf("postgres has %d migrations, sqlite has %d", len(pg), len(lite))
	}
	for i := range pg {
		if pg[i].Name != lite[i].Name || pg[i].Version != lite[i].Version {
			t.Errorf("migration %d: postgres %q, sqlite %q", i, pg[i].Name, lite[i].Name)
		}
		if strings.TrimSpace(pg[i].SQL) == "" || strings.TrimSpace(lite[i].SQL) == "" {
			t.Errorf("migration %s is empty in a dialect", pg[i].Name)
		}
	}
	for i, m := range pg {
		if m.Version != i+1 {
			t.Errorf("migration %s: version %d, want contiguous %d", m.Name, m.Version, i+1)
		}
	}
}

func TestListUnknownDialect(t *testing.T) {
	if _, err := List("mysql"); err == nil {
		t.Fatal("List(mysql) succeeded")
	}
}

func TestParseVersion(t *testing.T) {
	good := map[string]int{"0001_init.sql": 1, "0042_add_x.sql": 42}
	for name, want := range good {
		v, err := parseVersion(name)
		if err != nil || v != want {
			t.Errorf("parseVersion(%q) = %d, %v; want %d", name, v, err, want)
		}
	}
	for _, name := range []string{"init.sql", "1_init.sql", "0001.sql", "0001_.sql", "0000_zero.sql", "0001_init.txt", "abcd_x.sql"} {
		if _, err := parseVersion(name); err == nil {
			t.Errorf("parseVersion(%q) succeeded", name)
		}
	}
}

func TestPlan(t *testing.T) {
	all := []Migration{{Version: 1, Name: "0001_a.sql"}, {Version: 2, Name: "0002_b.sql"}, {Version: 3, Name: "0003_c.sql"}}
	todo, err := Plan(all, map[int]string{1: "0001_a.sql"})
	if err != nil {
		t.Fatal(err)
	}
	if len(todo) != 2 || todo[0].Version != 2 || todo[1].Version != 3 {
		t.Fatalf("Plan = %+v, want versions 2, 3", todo)
	}
	todo, err = Plan(all, map[int]string{1: "0001_a.sql", 2: "0002_b.sql", 3: "0003_c.sql"})
	if err != nil || len(todo) != 0 {
		t.Fatalf("Plan(all applied) = %+v, %v", todo, err)
	}
	if _, err := Plan(all, map[int]string{4: "0004_future.sql"}); err == nil {
		t.Error("Plan accepted a newer schema")
	}
	if _, err := Plan(all, map[int]string{2: "0002_other.sql"}); err == nil {
		t.Error("Plan accepted a diverged migration name")
	}
}
