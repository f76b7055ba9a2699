package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/sqlite"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

// BenchmarkStoredBytesSQLite reports the database file's growth (tables and
// indexes, after a checkpoint on close) per stored request, for requests on new
// connections (each its own ClientHello) and for keep-alive requests (100 per
// connection, each repeating its connection's data as fpserver stores it).
func BenchmarkStoredBytesSQLite(b *testing.B) {
	const n = 20000
	for _, mode := range []string{"new_connection", "keepalive"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				g := storetest.NewGenerator(5, time.Now().Add(-time.Hour), time.Millisecond)
				var cs []model.Capture
				if mode == "new_connection" {
					cs = g.Batch(n)
				} else {
					for len(cs) < n {
						cs = append(cs, storetest.KeepAlive(g.Next(), 100, time.Millisecond)...)
					}
				}
				b.ReportMetric(storedBytesSQLite(b, cs)/n, "stored-bytes/request")
			}
		})
	}
}

func storedBytesSQLite(b *testing.B, cs []model.Capture) float64 {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "size.db")
	size := func() int64 {
		db, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < len(cs); i += 1000 {
		if _, err := db.InsertCaptures(ctx, cs[i:min(i+1000, len(cs))]); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	return float64(size() - before)
}
