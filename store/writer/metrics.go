package writer

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Drop reasons, the values of the "reason" label of dropped_total.
const (
	// DropQueueFull: Offer found the in-memory queue full.
	DropQueueFull = "queue_full"
	// DropInvalid: Offer was given a capture failing model.Capture.ValidateFields.
	DropInvalid = "invalid"
	// DropClosed: Offer was called after Close.
	DropClosed = "closed"
	// DropSpoolFull: the spool's size cap left no room.
	DropSpoolFull = "spool_full"
	// DropSpoolCorrupt: spool data failed its CRC or could not be decoded during
	// replay (outside damage, or a spool from an incompatible version). Counted
	// once per damaged region: the region up to the end of the data written so
	// far is skipped, and how many captures it held is unknown.
	DropSpoolCorrupt = "spool_corrupt"
	// DropRejected: the database refused the capture itself (model.ErrRejected).
	DropRejected = "rejected"
	// DropShutdown: Close's context ended while the capture's batch was being
	// retried in memory (without a spool, or after the spool failed to write).
	DropShutdown = "shutdown"
)

func dropReasons() []string {
	return []string{DropQueueFull, DropInvalid, DropClosed, DropSpoolFull, DropSpoolCorrupt, DropRejected, DropShutdown}
}

// metrics are the writer's Prometheus collectors, all prefixed
// guanaco_store_writer_.
type metrics struct {
	queued      prometheus.Counter
	written     *prometheus.CounterVec // label source: direct|spool
	duplicates  prometheus.Counter
	retried     prometheus.Counter
	spooled     prometheus.Counter
	dropped     *prometheus.CounterVec // label reason
	spoolCut    prometheus.Counter
	deadLetters prometheus.Counter
	batch       *prometheus.HistogramVec // label outcome: ok|error
	queueLen    prometheus.GaugeFunc
	spoolBytes  prometheus.GaugeFunc
	spooling    prometheus.GaugeFunc
}

func newMetrics(w *Writer) *metrics {
	const ns, sub = "guanaco", "store_writer"
	m := &metrics{
		queued: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "queued_total",
			Help: "Captures accepted into the in-memory queue."}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "written_total",
			Help: "Captures confirmed stored (committed batches), by source: direct from the queue or replayed from the spool."}, []string{"source"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "duplicates_total",
			Help: "Captures in committed batches that were already stored (retries after an ambiguous failure)."}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retried_total",
			Help: "Batch inserts that failed and were retried after a backoff."}),
		spooled: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "spooled_total",
			Help: "Captures appended to the on-disk spool."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dropped_total",
			Help: "Captures lost, by reason; spool_full counts drops forced by the spool size cap."}, []string{"reason"}),
		spoolCut: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "spool_torn_bytes_total",
			Help: "Bytes of torn or corrupt spool tail discarded when opening or replaying the spool."}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dead_letter_total",
			Help: "Captures the database refused for good (data, size or constraint errors), set aside in the dead-letter file while it has room."}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_duration_seconds",
			Help:    "Latency of one batch insert into the database, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"outcome"}),
		queueLen: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "queue_length",
			Help: "Captures waiting in the in-memory queue."}, func() float64 { return float64(len(w.queue)) }),
		spoolBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "spool_bytes",
			Help: "Size of the spool file in bytes (header included)."}, func() float64 { return float64(w.spoolSize()) }),
		spooling: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "spooling",
			Help: "1 while new batches go to the spool (database unreachable or backlog), else 0."}, func() float64 {
			if w.isSpooling() {
				return 1
			}
			return 0
		}),
	}
	for _, r := range dropReasons() {
		m.dropped.WithLabelValues(r)
	}
	m.written.WithLabelValues("direct")
	m.written.WithLabelValues("spool")
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.queued, m.written, m.duplicates, m.retried, m.spooled, m.dropped, m.spoolCut, m.deadLetters, m.batch,
		m.queueLen, m.spoolBytes, m.spooling}
}

// register registers every collector on r, undoing the ones done on failure.
func (m *metrics) register(r prometheus.Registerer) error {
	var done []prometheus.Collector
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			for _, d := range done {
				r.Unregister(d)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return fmt.Errorf("writer: registering metrics (one Writer per registry): %w", err)
			}
			return fmt.Errorf("writer: registering metrics: %w", err)
		}
		done = append(done, c)
	}
	return nil
}

// Stats is a snapshot of the writer's counters: the values its metrics export,
// readable also after Close (which unregisters the metrics).
type Stats struct {
	Queued     int64
	Written    int64 // direct + replayed from the spool
	Replayed   int64 // of Written, replayed from the spool
	Duplicates int64
	Retried    int64
	Spooled    int64
	// DeadLetters counts the captures the database refused for good.
	DeadLetters int64
	// Dropped is the total of DroppedBy.
	Dropped   int64
	DroppedBy map[string]int64
	// QueueLength, SpoolBytes and Spooling are the current gauge values.
	QueueLength int
	SpoolBytes  int64
	Spooling    bool
}

// Stats returns a snapshot of the counters.
func (w *Writer) Stats() Stats {
	st := Stats{
		Queued:      counterValue(w.m.queued),
		Replayed:    counterValue(w.m.written.WithLabelValues("spool")),
		Duplicates:  counterValue(w.m.duplicates),
		Retried:     counterValue(w.m.retried),
		Spooled:     counterValue(w.m.spooled),
		DeadLetters: counterValue(w.m.deadLetters),
		DroppedBy:   make(map[string]int64, len(dropReasons())),
	}
	st.Written = counterValue(w.m.written.WithLabelValues("direct")) + st.Replayed
	for _, r := range dropReasons() {
		n := counterValue(w.m.dropped.WithLabelValues(r))
		st.DroppedBy[r] = n
		st.Dropped += n
	}
	st.QueueLength, st.SpoolBytes = w.Backlog()
	st.Spooling = w.isSpooling()
	return st
}

func counterValue(c prometheus.Counter) int64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return int64(m.GetCounter().GetValue())
}
