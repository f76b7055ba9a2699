//go:build unix

package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/postgres"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

// BenchmarkStoredBytesPostgres reports the growth of the capture tables (heap,
// TOAST and indexes: pg_total_relation_size) per stored request, for requests
// on new connections and keep-alive requests (100 per connection), as
// BenchmarkStoredBytesSQLite.
func BenchmarkStoredBytesPostgres(b *testing.B) {
	const n = 20000
	dsn, _ := benchDSN(b)
	ctx := context.Background()
	for _, mode := range []string{"new_connection", "keepalive"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				db, err := postgres.Open(ctx, dsn, postgres.Options{})
				if err != nil {
					b.Fatal(err)
				}
				conn, err := pgx.Connect(ctx, dsn)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := conn.Exec(ctx, "TRUNCATE requests, connections, dict"); err != nil {
					b.Fatal(err)
				}
				size := func() int64 {
					var s int64
					if err := conn.QueryRow(ctx, `SELECT sum(pg_total_relation_size(relid)) FROM (
	SELECT relid FROM pg_partition_tree('requests') UNION ALL SELECT 'connections'::regclass UNION ALL SELECT 'dict'::regclass) t`).Scan(&s); err != nil {
						b.Fatal(err)
					}
					return s
				}
				g := storetest.NewGenerator(5, time.Now().Add(-time.Hour), time.Millisecond)
				var cs []model.Capture
				if mode == "new_connection" {
					cs = g.Batch(n)
				} else {
					for len(cs) < n {
						cs = append(cs, storetest.KeepAlive(g.Next(), 100, time.Millisecond)...)
					}
				}
				before := size()
				for j := 0; j < len(cs); j += 1000 {
					if _, err := db.InsertCaptures(ctx, cs[j:min(j+1000, len(cs))]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(size()-before)/n, "stored-bytes/request")
				conn.Close(ctx)
				db.Close()
			}
		})
	}
}
