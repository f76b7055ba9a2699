//go:build unix

package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/pgtest"
	"github.com/guanaco-fp/guanaco/store/postgres"
	"github.com/guanaco-fp/guanaco/store/sqlite"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

var pg *pgtest.Env

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	pg = pgtest.NewEnv(ctx, pgtest.Options{})
	cancel()
	code := m.Run()
	if err := pg.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "closing postgres:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func open(t *testing.T, dsn string) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	return s
}

// TestOpenDispatch checks that each DSN form reaches the right backend and that
// the store works through the interface.
func TestOpenDispatch(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		dsn  string
		want string
	}{
		{filepath.Join(dir, "plain.db"), "sqlite"},
		{"sqlite:" + filepath.Join(dir, "prefixed.db"), "sqlite"},
		{"sqlite://" + filepath.Join(dir, "url.db"), "sqlite"},
		{":memory:", "sqlite"},
		{"sqlite::memory:", "sqlite"},
	}
	if pg.Err() == nil {
		cases = append(cases, struct{ dsn, want string }{pg.DSN(t), "postgres"})
	}
	for _, tc := range cases {
		s := open(t, tc.dsn)
		var got string
		switch s.(type) {
		case *sqlite.DB:
			got = "sqlite"
		case *postgres.DB:
			got = "postgres"
		}
		if got != tc.want {
			t.Errorf("Open(%q) gave %T, want %s", tc.dsn, s, tc.want)
		}
		c := model.Capture{ID: store.NewCaptureID(time.Now()), CreatedAt: time.Now(), Initiator: store.InitiatorNavigate}
		if n, err := s.InsertCaptures(context.Background(), []store.Capture{c}); err != nil || n != 1 {
			t.Errorf("%s: insert = %d, %v", tc.dsn, n, err)
		}
		if _, err := s.Capture(context.Background(), c.ID); err != nil {
			t.Errorf("%s: read back: %v", tc.dsn, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s: close: %v", tc.dsn, err)
		}
	}
	for _, bad := range []string{"", "   ", "mysql://u@h/db", "sqlite:", "sqlite://"} {
		if s, err := store.Open(context.Background(), bad); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	// A file path in a missing directory fails cleanly.
	if _, err := store.Open(context.Background(), filepath.Join(dir, "missing", "x.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
	if !errors.Is(store.ErrNotFound, model.ErrNotFound) {
		t.Error("store.ErrNotFound is not model.ErrNotFound")
	}
}

// TestConformanceViaOpen runs the suite through store.Open for both backends.
func TestConformanceViaOpen(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) model.Store { return open(t, "sqlite:"+filepath.Join(t.TempDir(), "s.db")) })
	})
	t.Run("postgres", func(t *testing.T) {
		pg.Require(t)
		storetest.Run(t, func(t *testing.T) model.Store { return open(t, pg.DSN(t)) })
	})
}
