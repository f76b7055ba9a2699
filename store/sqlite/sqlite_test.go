package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/sqlite"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

func open(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sqlite.Open(ctx, path, sqlite.Options{DeleteChunk: 100})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestConformanceFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) model.Store {
		return open(t, filepath.Join(t.TempDir(), "guanaco.db"))
	})
}

func TestConformanceMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) model.Store { return open(t, sqlite.Memory) })
}
