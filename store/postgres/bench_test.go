//go:build unix

package postgres_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/pgtest"
	"github.com/guanaco-fp/guanaco/store/postgres"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

// benchDSN returns a database for benchmarks: TEST_DATABASE_URL when set (a fresh
// schema; no server CPU figures), else a dedicated throwaway cluster with durable
// settings (fsync and synchronous_commit on), so the numbers are not flattered.
func benchDSN(b *testing.B) (string, *pgtest.Cluster) {
	if os.Getenv(pgtest.EnvDatabaseURL) != "" {
		return pg.DSN(b), nil
	}
	c := pgtest.NewCluster(b, pgtest.Options{Durable: true, Settings: benchSettings})
	return c.DSN(""), c
}

// benchSettings are extra server settings for the benchmark cluster, from
// $PGTEST_BENCH_SETTINGS (space-separated name=value), e.g.
// "shared_buffers=1GB wal_compression=lz4", to compare tunings.
var benchSettings = strings.Fields(os.Getenv("PGTEST_BENCH_SETTINGS"))

// cpuMeter reports client (this process) and server CPU per capture.
type cpuMeter struct {
	c              *pgtest.Cluster
	client, server time.Duration
}

func (m *cpuMeter) start(b *testing.B) {
	m.client = storetest.ProcessCPU()
	if m.c != nil {
		s, err := m.c.ServerCPU()
		if err != nil {
			b.Logf("no server CPU figure: %v", err)
			m.c = nil
			return
		}
		m.server = s
	}
}

func (m *cpuMeter) report(b *testing.B, captures int) {
	n := float64(captures)
	b.ReportMetric(float64((storetest.ProcessCPU()-m.client).Microseconds())/n, "client-cpu-µs/capture")
	if m.c != nil {
		s, err := m.c.ServerCPU()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64((s-m.server).Microseconds())/n, "server-cpu-µs/capture")
	}
}

// BenchmarkInsertCapturesPostgres writes realistic captures (storetest.Classic, ~3.3 KB)
// with COPY and reports captures/s (wall) plus client and server CPU µs per
// capture, for one writer and for two concurrent writers, at two batch sizes.
func BenchmarkInsertCapturesPostgres(b *testing.B) {
	dsn, cluster := benchDSN(b)
	db := open(b, dsn, postgres.Options{})
	defer db.Close()
	for _, bc := range []struct {
		name    string
		batch   int
		writers int
	}{
		{"batch=1000/writers=1", 1000, 1},
		{"batch=5000/writers=1", 5000, 1},
		{"batch=1000/writers=2", 1000, 2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchInsert(b, db, cluster, bc.batch, bc.writers)
		})
	}
	// The retry path: every batch collides with stored rows and goes through
	// the staging table.
	b.Run("batch=1000/retry-staged", func(b *testing.B) {
		ctx := context.Background()
		g := storetest.NewGenerator(9, time.Now(), time.Millisecond)
		var elapsed time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			batch := g.Batch(1000)
			if _, err := db.InsertCaptures(ctx, batch[:1]); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			t0 := time.Now()
			n, err := db.InsertCaptures(ctx, batch)
			if err != nil {
				b.Fatal(err)
			}
			if n != 999 {
				b.Fatalf("inserted %d, want 999", n)
			}
			elapsed += time.Since(t0)
		}
		b.ReportMetric(float64(b.N*1000)/elapsed.Seconds(), "captures/s")
	})
}

func benchInsert(b *testing.B, db model.Store, cluster *pgtest.Cluster, batchSize, writers int) {
	ctx := context.Background()
	// Pre-generate so the generator's cost is not measured.
	batches := make([][]model.Capture, b.N*writers)
	g := storetest.NewGenerator(uint64(batchSize*writers), time.Now(), time.Millisecond)
	for i := range batches {
		batches[i] = g.Batch(batchSize)
	}
	size := 0
	for i := range batches[0] {
		size += batches[0][i].ApproxSize()
	}
	b.ReportMetric(float64(size)/float64(batchSize), "bytes/capture")
	b.ResetTimer()
	meter := cpuMeter{c: cluster}
	meter.start(b)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(batches); i += writers {
				if _, err := db.InsertCaptures(ctx, batches[i]); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(batches)*batchSize)/elapsed.Seconds(), "captures/s")
	meter.report(b, len(batches)*batchSize)
}
