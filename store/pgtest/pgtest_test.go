//go:build unix

package pgtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestClusterStopStart starts a throwaway cluster, writes through it, stops it
// (immediate), checks that connections now fail, restarts it on the same port and
// reads the committed row back.
func TestClusterStopStart(t *testing.T) {
	c := NewCluster(t, Options{Durable: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, c.DSN(""))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	port := c.Port()
	if err := c.Stop(ctx, StopImmediate); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Fatal("Running after Stop")
	}
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("query succeeded against a stopped server")
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Port() != port {
		t.Fatalf("port changed from %d to %d", port, c.Port())
	}
	conn, err := pgx.Connect(ctx, c.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after restart: v=%d err=%v", v, err)
	}
}

func TestWithSearchPath(t *testing.T) {
	got, err := WithSearchPath("postgres://u@127.0.0.1:5432/db?sslmode=disable", "s1")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(got)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RuntimeParams["search_path"] != "s1" || cfg.Database != "db" {
		t.Fatalf("parsed %q: search_path=%q database=%q", got, cfg.RuntimeParams["search_path"], cfg.Database)
	}
}

type recordTB struct {
	testing.TB
	skipped, failed bool
}

func (r *recordTB) Helper()               {}
func (r *recordTB) Skipf(string, ...any)  { r.skipped = true }
func (r *recordTB) Fatalf(string, ...any) { r.failed = true }

func TestRequire(t *testing.T) {
	cases := []struct {
		ci         string
		err        error
		skip, fail bool
	}{
		{"", nil, false, false},
		{"", ErrUnavailable, true, false},
		{"true", ErrUnavailable, false, true},
		{"", errors.New("initdb crashed"), false, true},
	}
	for _, tc := range cases {
		t.Setenv("CI", tc.ci)
		r := &recordTB{TB: t}
		Require(r, tc.err)
		if r.skipped != tc.skip || r.failed != tc.fail {
			t.Errorf("CI=%q err=%v: skipped=%v failed=%v, want %v %v", tc.ci, tc.err, r.skipped, r.failed, tc.skip, tc.fail)
		}
	}
}

func TestServerCPU(t *testing.T) {
	c := NewCluster(t, Options{})
	ctx := context.Background()
	before, err := c.ServerCPU()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Burn ~100 ms of server CPU.
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM generate_series(1, 1000000) g WHERE md5(g::text) LIKE 'a%'"); err != nil {
		t.Fatal(err)
	}
	after, err := c.ServerCPU()
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 50*time.Millisecond {
		t.Fatalf("server CPU grew by %v after a CPU-heavy query", d)
	}
}
