//go:build unix

package e2e_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/pgtest"
	"github.com/guanaco-fp/guanaco/store/postgres"
	"github.com/guanaco-fp/guanaco/store/sqlite"
	"github.com/guanaco-fp/guanaco/store/storetest"
	"github.com/guanaco-fp/guanaco/store/writer"
)

// BenchmarkSustainedWriter offers captures to the capture writer (with a
// spool, as fpserver runs it, and a queue large enough that nothing spills)
// and reports the requests
// per second stored, from the first Offer until Close returned with every
// capture in the database: keep-alive requests (100 per connection, the
// connection's data stored once) and requests on new connections, into
// SQLite and Postgres. The targets: keep-alive >= 30,000/s into
// SQLite and >= 60,000/s into Postgres on the 2-core CI machine. It also
// reports the process's CPU time per request (getrusage), the figure to
// compare changes of the SQLite path by.
func BenchmarkSustainedWriter(b *testing.B) {
	const n = 100000
	gen := func(mode string) []model.Capture {
		g := storetest.NewGenerator(31, time.Now().Add(-time.Hour), time.Microsecond)
		if mode == "new_connection" {
			return g.Batch(n / 5)
		}
		var cs []model.Capture
		for len(cs) < n {
			cs = append(cs, storetest.KeepAlive(g.Next(), 100, time.Microsecond)...)
		}
		return cs
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			// One cluster for both modes, stopped when the backend's
			// sub-benchmarks are done (started only when they run).
			var cluster *pgtest.Cluster
			if backend == "postgres" {
				cluster = pgtest.NewCluster(b, pgtest.Options{})
			}
			sustainedWriter(b, backend, cluster, gen)
		})
	}
}

// sustainedWriter runs BenchmarkSustainedWriter's modes against backend
// (cluster: the Postgres cluster, nil for SQLite).
func sustainedWriter(b *testing.B, backend string, cluster *pgtest.Cluster, gen func(mode string) []model.Capture) {
	for _, mode := range []string{"keepalive", "new_connection"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cs := gen(mode)
				var store interface {
					writer.Inserter
					Close() error
				}
				switch backend {
				case "sqlite":
					db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
					if err != nil {
						b.Fatal(err)
					}
					store = db
				default:
					db, err := postgres.Open(ctx, cluster.DSN(""), postgres.Options{})
					if err != nil {
						b.Fatal(err)
					}
					store = db
				}
				// The queue holds every capture, so none is spilled to the spool:
				// this measures what the database path sustains.
				w, err := writer.New(writer.Config{Store: store, SpoolPath: filepath.Join(b.TempDir(), "spool"), QueueSize: 2 * len(cs)})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				cpu0 := storetest.ProcessCPU()
				for j := range cs {
					for !w.Offer(cs[j]) {
						time.Sleep(100 * time.Microsecond)
					}
				}
				if err := w.Close(ctx); err != nil {
					b.Fatal(err)
				}
				elapsed := time.Since(start)
				cpu := storetest.ProcessCPU() - cpu0
				b.StopTimer()
				b.ReportMetric(float64(len(cs))/elapsed.Seconds(), "requests/s")
				// CPU of this process (user + system) per stored request: less
				// noisy than the rate on a shared machine. Postgres's own CPU is
				// in its server processes and not counted.
				b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(len(cs)), "cpu-µs/request")
				if err := store.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
