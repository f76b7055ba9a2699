//go:build unix

package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/pgtest"
	"github.com/guanaco-fp/guanaco/store/postgres"
	"github.com/guanaco-fp/guanaco/store/sqlite"
	"github.com/guanaco-fp/guanaco/store/storetest"
	"github.com/guanaco-fp/guanaco/store/writer"
)

// TestFaultPostgresRestart runs a steady write load through the Writer into a
// throwaway Postgres (durable settings), stops the server twice in the middle of it
// (once "fast", once "immediate", i.e. a crash) and keeps it down for seconds each
// time, restarts it on the same port, waits for the writer to drain its queue and
// spool, and then proves that every capture offered was stored exactly once: the
// stored ID set equals the offered ID set and COUNT(*) = COUNT(DISTINCT id).
func TestFaultPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test takes ~30 s")
	}
	c := pgtest.NewCluster(t, pgtest.Options{Durable: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, c.DSN(""), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := prometheus.NewRegistry()
	spool := filepath.Join(t.TempDir(), "captures.spool")
	w, err := writer.New(writer.Config{
		Store:         db,
		BatchSize:     500,
		FlushInterval: 50 * time.Millisecond,
		InsertTimeout: 5 * time.Second,
		SpoolPath:     spool,
		Backoff:       writer.ExponentialBackoff(50*time.Millisecond, time.Second),
		Registerer:    reg,
	})
	if err != nil {
		t.Fatal(err)
	}

	// Steady load: 3000 captures/s for 15 s, offered in ticks of 30 every 10 ms.
	const rate, seconds, tick = 3000, 15, 10 * time.Millisecond
	perTick := rate * int(tick) / int(time.Second)
	all := storetest.NewGenerator(11, time.Now(), 300*time.Microsecond).Batch(rate * seconds)
	offered := make([]string, 0, len(all))
	refused := 0
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		for i := 0; i < len(all); {
			<-ticker.C
			for j := 0; j < perTick && i < len(all); j, i = j+1, i+1 {
				if w.Offer(all[i]) {
					offered = append(offered, all[i].ID)
				} else {
					refused++
				}
			}
		}
	}()

	outage := func(at time.Duration, mode pgtest.StopMode, down time.Duration) {
		time.Sleep(at)
		t.Logf("stopping postgres (%s) for %v", mode, down)
		if err := c.Stop(ctx, mode); err != nil {
			t.Errorf("stop: %v", err)
			return
		}
		time.Sleep(down)
		if err := c.Start(ctx); err != nil {
			t.Errorf("restart: %v", err)
			return
		}
		t.Logf("postgres back on port %d", c.Port())
	}
	start := time.Now()
	progressDone := make(chan struct{})
	defer close(progressDone)
	go func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-tk.C:
				st := w.Stats()
				t.Logf("t=%2.0fs queued=%d written=%d spooled=%d replayed=%d queue=%d spool=%dB spooling=%v",
					time.Since(start).Seconds(), st.Queued, st.Written, st.Spooled, st.Replayed, st.QueueLength, st.SpoolBytes, st.Spooling)
			}
		}
	}()
	outage(3*time.Second, pgtest.StopFast, 3*time.Second)
	outage(3*time.Second, pgtest.StopImmediate, 5*time.Second)
	<-producerDone
	t.Logf("load done after %v: %d offered, %d refused", time.Since(start).Round(time.Millisecond), len(offered), refused)

	closeCtx, closeCancel := context.WithTimeout(ctx, 60*time.Second)
	defer closeCancel()
	if err := w.Close(closeCtx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("drained after %v", time.Since(start).Round(time.Millisecond))
	if refused != 0 {
		t.Errorf("%d captures refused by Offer (queue full) although a spool was configured", refused)
	}
	if fi, err := os.Stat(spool); err != nil || fi.Size() != 8 {
		t.Errorf("spool not emptied after drain: %v %v", fi.Size(), err)
	}

	conn, err := pgx.Connect(ctx, c.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var total, distinct int
	if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT id) FROM captures").Scan(&total, &distinct); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "SELECT id FROM captures")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("offered %d, stored %d rows (%d distinct)", len(offered), total, distinct)
	if total != distinct {
		t.Errorf("duplicates: %d rows, %d distinct ids", total, distinct)
	}
	if total != len(offered) {
		t.Errorf("stored %d captures, offered %d", total, len(offered))
	}
	want := make(map[string]bool, len(offered))
	for _, id := range offered {
		want[id] = true
	}
	missing := len(want)
	for _, id := range stored {
		if !want[id] {
			t.Errorf("stored id %s was never offered", id)
			break
		}
		missing--
	}
	if missing != 0 {
		t.Errorf("%d offered captures missing from the database", missing)
	}

	st := w.Stats()
	t.Logf("writer stats: %+v", st)
	if st.Spooled == 0 || st.Retried == 0 || st.Replayed == 0 {
		t.Errorf("the outages did not exercise the spool: spooled %d, retried %d, replayed %d", st.Spooled, st.Retried, st.Replayed)
	}
	if st.Dropped != 0 {
		t.Errorf("writer dropped %d captures: %v", st.Dropped, st.DroppedBy)
	}
	// Every capture is counted written once, by the insert call that
	// succeeded. A batch whose commit outcome was lost in the outage
	// (committed, but the writer saw an error) is written again from the
	// spool; its rows are then reported as duplicates by that second call.
	if st.Queued != int64(len(offered)) || st.Written != int64(len(offered)) || st.Duplicates > st.Replayed {
		t.Errorf("writer counted %d queued, %d written, %d duplicates for %d offered", st.Queued, st.Written, st.Duplicates, len(offered))
	}
}

// BenchmarkWriter measures sustained end-to-end throughput: a producer Offers
// realistic captures (storetest.Classic, ~3.3 KB) as fast as the writer accepts
// them, and the clock stops when Close returns, i.e. when every capture is
// committed to the database. It reports captures/s (wall), bytes/capture, CPU µs
// per capture (this process; for Postgres also the server) and the share of
// captures that went through the spool (backlog spill). Each op is 5000 captures.
func BenchmarkWriter(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		for _, flushers := range []int{1, 2} {
			b.Run(fmt.Sprintf("flushers=%d", flushers), func(b *testing.B) { benchWriter(b, db, nil, flushers) })
		}
	})
	b.Run("postgres", func(b *testing.B) {
		var dsn string
		var cluster *pgtest.Cluster
		if os.Getenv(pgtest.EnvDatabaseURL) != "" {
			dsn = os.Getenv(pgtest.EnvDatabaseURL)
		} else {
			cluster = pgtest.NewCluster(b, pgtest.Options{Durable: true})
			dsn = cluster.DSN("")
		}
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		for _, flushers := range []int{1, 2} {
			b.Run(fmt.Sprintf("flushers=%d", flushers), func(b *testing.B) { benchWriter(b, db, cluster, flushers) })
		}
	})
}

func benchWriter(b *testing.B, st writer.Inserter, cluster *pgtest.Cluster, flushers int) {
	const perOp = 5000
	b.StopTimer()
	// One op's worth of distinct captures, reused with fresh IDs (and times), so
	// the benchmark does not keep b.N*5000 captures alive for the GC to scan.
	pool := storetest.NewGenerator(uint64(b.N), time.Now(), 10*time.Microsecond).Batch(perOp)
	total := b.N * perOp
	ids := make([]string, total)
	now := time.Now()
	for i := range ids {
		ids[i] = model.NewCaptureID(now.Add(time.Duration(i) * time.Microsecond))
	}
	size := 0
	for i := range pool[:1000] {
		size += pool[i].ApproxSize()
	}
	w, err := writer.New(writer.Config{
		Store:     st,
		Flushers:  flushers,
		SpoolPath: filepath.Join(b.TempDir(), "spool"),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	start, cpu0 := time.Now(), storetest.ProcessCPU()
	var srv0 time.Duration
	if cluster != nil {
		if srv0, err = cluster.ServerCPU(); err != nil {
			b.Logf("no server CPU figure: %v", err)
			cluster = nil
		}
	}
	for i := 0; i < total; i++ {
		c := pool[i%perOp]
		c.ID = ids[i]
		for !w.Offer(c) {
			time.Sleep(50 * time.Microsecond)
		}
	}
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed, cpu := time.Since(start), storetest.ProcessCPU()-cpu0
	b.StopTimer()
	n := float64(total)
	b.ReportMetric(float64(cpu.Microseconds())/n, "client-cpu-µs/capture")
	if cluster != nil {
		srv, err := cluster.ServerCPU()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64((srv-srv0).Microseconds())/n, "server-cpu-µs/capture")
	}
	st1 := w.Stats()
	if st1.Written-st1.Duplicates != int64(total) {
		b.Fatalf("wrote %d (%d duplicates) of %d", st1.Written, st1.Duplicates, total)
	}
	b.ReportMetric(n/elapsed.Seconds(), "captures/s")
	b.ReportMetric(float64(size)/1000, "bytes/capture")
	b.ReportMetric(100*float64(st1.Spooled)/n, "%spooled")
}
