// Package writer is the capture writer fpserver hands every capture to: a bounded
// in-memory queue that never blocks request handling, flushed to a store in
// batches, with an on-disk spool that keeps captures while the database is
// unreachable or too slow.
//
// Data flow:
//
//	Offer ──> queue (bounded channel) ──> flusher(s): batch by size or time
//	  │ full: drop (counted)   │                │
//	  │                        │                ├─ direct mode: InsertCaptures (COPY on Postgres,
//	  │ queue >= 3/4 full      │                │  one transaction on SQLite); on failure the
//	  └──────────> spiller ────┘                │  batch goes to the spool and the writer
//	               moves captures to the spool  │  switches to spool mode
//	               until the queue is 1/2 full  └─ spool mode (database failing): append to
//	                                               the spool
//	spool (append-only, fsync per batch, size-capped)
//	  ──> drainer: replays records in order with retries and backoff; when the spool
//	      is empty it is truncated and the writer returns to direct mode.
//
// So when traffic outruns the database the flushers keep writing directly at full
// speed and only the excess takes the detour through the disk.
//
// Every capture carries a unique ID and InsertCaptures is idempotent, so a batch
// whose commit outcome is unknown (connection lost during COPY) is simply written
// again from the spool: stored exactly once either way. The spool survives
// restarts; a new Writer on the same path replays it.
//
// Close flushes the queue (to the database, or to the spool when the database is
// failing) and replays the spool while the database accepts writes, within its
// context's deadline; what remains spooled is replayed by the next Writer.
package writer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/guanaco-fp/guanaco/store/model"
)

// Inserter is what the writer needs from a store; model.Store implements it.
type Inserter interface {
	// InsertCaptures must be idempotent by capture ID (see model.Store).
	InsertCaptures(ctx context.Context, batch []model.Capture) (int64, error)
}

// ValidatedInserter is implemented by stores that can skip the per-field
// checks of captures already validated (both backends do): the writer checks
// every capture with model.Capture.ValidateFields when it is offered and
// passes batches from its queue to InsertValidated, so a capture is validated
// once. Batches read back from the spool go through InsertCaptures.
type ValidatedInserter interface {
	InsertValidated(ctx context.Context, batch []model.Capture) (int64, error)
}

// Config configures a Writer. Store is required; zero values get the defaults
// documented on each field.
type Config struct {
	// Store receives the batches.
	Store Inserter
	// QueueSize bounds the in-memory queue (default 65536 captures, about
	// 200 MB of realistic captures at most).
	QueueSize int
	// BatchSize is the most captures per insert (default 4000). A flusher
	// takes what is queued without waiting, so batches only grow this large
	// while the database is behind; then fewer, larger transactions cost
	// less per capture (each commit rewrites the b-tree pages it touched, and
	// a batch of 4000 touches few more than one of 1000: SQLite ~20 % and
	// Postgres ~15 % less writer CPU per request than with 1000, see
	// docs/measurements.md).
	BatchSize int
	// FlushInterval is the longest a capture waits in a partial batch
	// (default 200 ms).
	FlushInterval time.Duration
	// Flushers is the number of goroutines inserting batches from the queue
	// concurrently (default 1). Two suit Postgres on a multi-core server;
	// SQLite serialises writes anyway.
	Flushers int
	// InsertTimeout bounds one insert attempt (default 30 s).
	InsertTimeout time.Duration
	// SpoolPath is the spool file (created 0600, its directory 0700 if
	// missing; one Writer per file, enforced with a lock). Empty disables
	// spooling: failed batches are then retried in memory with backoff while the
	// queue fills, and captures beyond it are dropped.
	SpoolPath string
	// SpoolMaxBytes caps the spool file (default 1 GiB). Captures that do not
	// fit are dropped with reason spool_full.
	SpoolMaxBytes int64
	// DeadLetterPath is the file receiving, as JSON lines with the reason, the
	// captures the database refuses for good (model.ErrRejected or ErrInvalid:
	// the same row would fail again). Default: SpoolPath + ".dead" when a spool
	// is configured, else none (such captures are then only logged and counted).
	DeadLetterPath string
	// DeadLetterMaxBytes caps the dead-letter file (default 64 MiB); refused
	// captures beyond it are counted and logged only.
	DeadLetterMaxBytes int64
	// StallAfter is how long inserts may keep failing (no batch written) before
	// Healthy reports the writer stalled (default 1 min).
	StallAfter time.Duration
	// Backoff spaces retries (default ExponentialBackoff(100ms, 5s)).
	Backoff Backoff
	// Clock is the time source (default SystemClock).
	Clock Clock
	// Registerer receives the metrics (guanaco_store_writer_*); nil leaves them
	// unregistered.
	Registerer prometheus.Registerer
	// Logger receives state changes and errors (default: discarded).
	Logger *slog.Logger
}

// Writer batches captures into a store. Offer is safe for concurrent use.
type Writer struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	// mu guards closed against Offer, so the queue is closed only when no Offer
	// can be sending.
	mu     sync.RWMutex
	closed bool
	// queue holds pointers: a ring of 65,536 captures by value (~600 bytes
	// each) is ~38 MB that every send and receive walks through cold, one
	// cache line after another; the pointers' ring is 512 KiB.
	queue chan *model.Capture

	// smu guards the spool and the mode.
	smu      sync.Mutex
	spool    *spool
	spooling bool          // database failing: flushers write to the spool
	wake     chan struct{} // capacity 1: "the spool has new records"
	pressure chan struct{} // capacity 1: "the queue crossed the high-water mark"
	closing  chan struct{} // closed when Close starts
	full     chan struct{} // Queue's signal to collect: a batch is waiting
	// held counts the captures in the partial batches of flushers asleep in
	// collect: with the queue's, what Queue compares with BatchSize.
	held atomic.Int64

	flushers sync.WaitGroup // flushers and the spiller: the queue's consumers
	drainer  sync.WaitGroup
	// flushersDone is closed when every consumer of the queue has returned.
	flushersDone chan struct{}
	// abort is closed when Close's context ends: retries stop, inserts are cancelled.
	abort     <-chan struct{}
	abortCtx  context.Context
	cancelAll context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	// shutdownDrops counts captures dropped because Close's context ended.
	shutdownDrops atomic.Int64

	dead *deadLetter // nil without a dead-letter file

	// hmu guards failingSince and lastErr: when inserts started failing without
	// a write since (zero when the last attempt succeeded), and the last error.
	hmu          sync.Mutex
	failingSince time.Time
	lastErr      error
}

// New validates cfg, opens (and, if it holds records, starts replaying) the
// spool, registers the metrics and starts the flushers.
func New(cfg Config) (*Writer, error) {
	if cfg.Store == nil {
		return nil, errors.New("writer: Config.Store is nil")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 65536
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 4000
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 200 * time.Millisecond
	}
	if cfg.Flushers <= 0 {
		cfg.Flushers = 1
	}
	if cfg.InsertTimeout <= 0 {
		cfg.InsertTimeout = 30 * time.Second
	}
	if cfg.SpoolMaxBytes <= 0 {
		cfg.SpoolMaxBytes = 1 << 30
	}
	if cfg.DeadLetterPath == "" && cfg.SpoolPath != "" {
		cfg.DeadLetterPath = cfg.SpoolPath + ".dead"
	}
	if cfg.DeadLetterMaxBytes <= 0 {
		cfg.DeadLetterMaxBytes = 64 << 20
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = time.Minute
	}
	if cfg.Backoff == nil {
		cfg.Backoff = ExponentialBackoff(100*time.Millisecond, 5*time.Second)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		cfg:          cfg,
		log:          log,
		queue:        make(chan *model.Capture, cfg.QueueSize),
		wake:         make(chan struct{}, 1),
		pressure:     make(chan struct{}, 1),
		closing:      make(chan struct{}),
		full:         make(chan struct{}, 1),
		flushersDone: make(chan struct{}),
		abort:        ctx.Done(),
		abortCtx:     ctx,
		cancelAll:    cancel,
	}
	w.m = newMetrics(w)
	var cut int64
	if cfg.SpoolPath != "" {
		sp, n, err := openSpool(cfg.SpoolPath, cfg.SpoolMaxBytes)
		if err != nil {
			cancel()
			return nil, err
		}
		w.spool, cut = sp, n
	}
	if cfg.DeadLetterPath != "" {
		d, err := openDeadLetter(cfg.DeadLetterPath, cfg.DeadLetterMaxBytes)
		if err != nil {
			if w.spool != nil {
				w.spool.close()
			}
			cancel()
			return nil, err
		}
		w.dead = d
	}
	if cfg.Registerer != nil {
		if err := w.m.register(cfg.Registerer); err != nil {
			if w.spool != nil {
				w.spool.close()
			}
			if w.dead != nil {
				w.dead.close()
			}
			cancel()
			return nil, err
		}
	}
	if cut > 0 {
		w.m.spoolCut.Add(float64(cut))
		log.Warn("writer: discarded torn spool tail", "path", cfg.SpoolPath, "bytes", cut)
	}
	if w.spool != nil {
		if w.spool.pending() {
			w.spooling = true
			w.signal()
			log.Info("writer: replaying spool left by a previous run", "path", cfg.SpoolPath, "bytes", w.spool.bytes())
		}
		w.drainer.Add(1)
		go w.drain()
		w.flushers.Add(1)
		go w.spill()
	}
	for i := 0; i < cfg.Flushers; i++ {
		w.flushers.Add(1)
		go w.flush()
	}
	go func() {
		w.flushers.Wait()
		close(w.flushersDone)
	}()
	return w, nil
}

// Offer queues c for writing and returns immediately. It returns false when c was
// dropped: the queue is full, the writer is closed, or c is invalid (each counted
// in dropped_total). A true result means the writer owns c; it is then written,
// spooled, or counted as dropped later (spool cap, database rejection). The
// caller must not modify c's slices afterwards.
func (w *Writer) Offer(c model.Capture) bool {
	return w.Queue(&c) == nil
}

// DropError says why Queue dropped a capture; Reason is one of the Drop*
// constants (the reason label of dropped_total).
type DropError struct {
	Reason string
	Err    error // the validation error for DropInvalid, else nil
}

func (e *DropError) Error() string {
	if e.Err != nil {
		return "writer: capture dropped: " + e.Reason + ": " + e.Err.Error()
	}
	return "writer: capture dropped: " + e.Reason
}

func (e *DropError) Unwrap() error { return e.Err }

// DropReason returns e.Reason, so callers can read it through an interface
// without importing this package.
func (e *DropError) DropReason() string { return e.Reason }

// Queue is Offer returning why a capture was dropped: nil when it was queued
// (not yet stored: it may still be dropped later, see Offer), else a
// *DropError. A queued c is the writer's, which reads it later: the caller
// must not change it afterwards (reading it is fine).
func (w *Writer) Queue(c *model.Capture) error {
	if err := c.ValidateFields(); err != nil {
		w.m.dropped.WithLabelValues(DropInvalid).Inc()
		return &DropError{Reason: DropInvalid, Err: err}
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.m.dropped.WithLabelValues(DropClosed).Inc()
		return &DropError{Reason: DropClosed}
	}
	select {
	case w.queue <- c:
		w.m.queued.Inc()
		if len(w.queue)+int(w.held.Load()) >= w.cfg.BatchSize {
			// The queue and the sleeping flushers' partial batches hold
			// a full batch: wake a flusher sleeping in collect (a token
			// already waiting is enough).
			select {
			case w.full <- struct{}{}:
			default:
			}
		}
		if w.spool != nil && len(w.queue) >= w.highWater() {
			select {
			case w.pressure <- struct{}{}:
			default:
			}
		}
		return nil
	default:
		w.m.dropped.WithLabelValues(DropQueueFull).Inc()
		return &DropError{Reason: DropQueueFull}
	}
}

// Backlog reports the captures waiting in the queue and the bytes in the spool
// (0 without a spool).
func (w *Writer) Backlog() (queued int, spoolBytes int64) {
	return len(w.queue), w.spoolSize()
}

func (w *Writer) spoolSize() int64 {
	w.smu.Lock()
	defer w.smu.Unlock()
	if w.spool == nil {
		return 0
	}
	return w.spool.bytes()
}

func (w *Writer) isSpooling() bool {
	w.smu.Lock()
	defer w.smu.Unlock()
	return w.spooling
}

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Close stops accepting captures, flushes the queue and replays the spool while
// the database takes writes, until ctx ends. It returns nil when every accepted
// capture was written or is safely spooled; otherwise an error saying how many
// were dropped during shutdown. Close is idempotent.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() { w.closeErr = w.close(ctx) })
	return w.closeErr
}

func (w *Writer) close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	close(w.queue)
	w.mu.Unlock()
	close(w.closing)

	stop := context.AfterFunc(ctx, w.cancelAll)
	defer stop()
	w.flushers.Wait()
	w.drainer.Wait()
	w.cancelAll()

	var errs []error
	if n := w.shutdownDrops.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("writer: %d captures dropped during shutdown", n))
	}
	w.smu.Lock()
	if w.spool != nil {
		if w.spool.pending() {
			w.log.Warn("writer: closing with captures still spooled; they are replayed by the next writer",
				"path", w.cfg.SpoolPath, "bytes", w.spool.bytes())
		}
		errs = append(errs, w.spool.close())
	}
	w.smu.Unlock()
	if w.dead != nil {
		errs = append(errs, w.dead.close())
	}
	if w.cfg.Registerer != nil {
		for _, c := range w.m.collectors() {
			w.cfg.Registerer.Unregister(c)
		}
	}
	return errors.Join(errs...)
}

// flush is one flusher goroutine: it batches captures from the queue until the
// queue is closed and empty.
func (w *Writer) flush() {
	defer w.flushers.Done()
	// The batch buffer is reused: neither the store nor the spool keeps it.
	buf := make([]model.Capture, 0, w.cfg.BatchSize)
	for {
		batch, ok := w.collect(buf[:0])
		if len(batch) > 0 {
			w.handle(batch)
		}
		if !ok {
			return
		}
	}
}

// collect waits for a first capture, then gathers more until the batch is full or
// FlushInterval has passed since the first. ok is false once the queue is closed
// and drained.
func (w *Writer) collect(batch []model.Capture) ([]model.Capture, bool) {
	c, ok := <-w.queue
	if !ok {
		return batch, false
	}
	// Take what is already queued without arming a timer.
	batch, open := w.takeNow(append(batch, *c))
	if len(batch) == w.cfg.BatchSize || !open {
		return batch, open
	}
	// Then sleep until the interval ends, Queue reports a full batch waiting
	// or Close starts, and take what is queued. Receiving each capture as it
	// arrives would wake this goroutine once per request.
	t := w.cfg.Clock.NewTimer(w.cfg.FlushInterval)
	defer t.Stop()
	for len(batch) < w.cfg.BatchSize {
		expired := w.doze(t, len(batch))
		if batch, open = w.takeNow(batch); !open || expired {
			return batch, open
		}
	}
	return batch, true
}

// doze waits in collect, holding a partial batch of n captures, until
// Queue reports that the queue and the partial batches hold a full batch,
// Close starts, or t fires (expired). The n captures are counted in held
// before the queue is looked at once more, so a capture queued in between
// is seen by one side or the other.
func (w *Writer) doze(t Timer, n int) (expired bool) {
	w.held.Add(int64(n))
	defer w.held.Add(-int64(n))
	if len(w.queue)+n >= w.cfg.BatchSize {
		return false
	}
	select {
	case <-w.full:
	case <-w.closing:
	case <-t.C():
		return true
	}
	return false
}

func (w *Writer) highWater() int { return max(1, w.cfg.QueueSize*3/4) }
func (w *Writer) lowWater() int  { return w.cfg.QueueSize / 2 }

// spill runs with a spool: whenever Offer reports the queue at the high-water mark
// (3/4 full), it moves captures from the queue to the spool in batches until the
// queue is down to half, so Offer keeps accepting while the database is slower
// than the traffic. It returns when Close starts (the flushers drain the rest).
func (w *Writer) spill() {
	defer w.flushers.Done()
	buf := make([]model.Capture, 0, w.cfg.BatchSize)
	logged := false
	for {
		select {
		case <-w.pressure:
		case <-w.closing:
			return
		}
		for len(w.queue) > w.lowWater() {
			batch, _ := w.takeNow(buf[:0])
			if len(batch) == 0 {
				break
			}
			if !logged {
				w.log.Warn("writer: queue above 3/4 full; spilling the excess to the spool", "queued", len(w.queue))
				logged = true
			}
			w.toSpool(batch)
		}
	}
}

// takeNow appends to batch what the queue holds right now, up to BatchSize,
// without waiting. open is false when the queue is closed and drained.
func (w *Writer) takeNow(batch []model.Capture) (_ []model.Capture, open bool) {
	for len(batch) < w.cfg.BatchSize {
		select {
		case c, ok := <-w.queue:
			if !ok {
				return batch, false
			}
			batch = append(batch, *c)
		default:
			return batch, true
		}
	}
	return batch, true
}

// handle writes one batch from the queue: directly, or to the spool while the
// database is failing.
func (w *Writer) handle(batch []model.Capture) {
	if w.spool != nil {
		w.smu.Lock()
		spooling := w.spooling
		w.smu.Unlock()
		if spooling {
			w.toSpool(batch)
			return
		}
	}
	rest, err := w.insert(batch, "direct")
	if err == nil {
		return
	}
	if w.spool != nil {
		w.smu.Lock()
		if !w.spooling {
			w.spooling = true
			w.log.Warn("writer: database write failed; spooling", "err", err)
		}
		w.smu.Unlock()
		w.toSpool(rest)
		return
	}
	w.retry(rest, "direct", err)
}

// toSpool appends a batch to the spool. If the spool cannot be written, the batch
// goes to the database (retried until shutdown) instead of being lost.
func (w *Writer) toSpool(batch []model.Capture) {
	w.smu.Lock()
	n, err := w.spool.append(batch)
	w.smu.Unlock()
	if n > 0 {
		w.m.spooled.Add(float64(n))
		w.signal()
	}
	switch {
	case err == nil:
	case errors.Is(err, errSpoolFull):
		w.m.dropped.WithLabelValues(DropSpoolFull).Add(float64(len(batch) - n))
		w.log.Error("writer: spool full; dropping captures", "dropped", len(batch)-n, "max_bytes", w.cfg.SpoolMaxBytes)
	default:
		w.log.Error("writer: spool write failed; writing the batch to the database instead", "err", err)
		rest, ierr := w.insert(batch[n:], "direct")
		if ierr != nil {
			w.retry(rest, "direct", ierr)
		}
	}
}

// insert makes one attempt at writing batch and returns the captures still to
// write with the error. A batch the database refuses as a whole for a reason that
// would recur (model.ErrRejected or ErrInvalid) is split in halves recursively, so
// the good captures are written and each refused one goes to the dead-letter file
// (see reject); only a transient error is returned.
func (w *Writer) insert(batch []model.Capture, source string) ([]model.Capture, error) {
	err := w.insertOnce(batch, source)
	if err == nil || !permanent(err) {
		return batch, err
	}
	w.log.Warn("writer: database rejected a batch; isolating the bad captures", "err", err, "size", len(batch))
	done, err := w.isolate(batch, source, err)
	return batch[done:], err
}

// isolate handles batch, whose insert failed with the permanent error cause, by
// bisection. It returns how many captures from the front of batch are done
// (written or rejected) and the transient error that stopped it, if any.
func (w *Writer) isolate(batch []model.Capture, source string, cause error) (int, error) {
	if len(batch) == 1 {
		w.reject(batch[0], cause)
		return 1, nil
	}
	mid := len(batch) / 2
	done := 0
	for _, half := range [2][]model.Capture{batch[:mid], batch[mid:]} {
		err := w.insertOnce(half, source)
		switch {
		case err == nil:
			done += len(half)
		case permanent(err):
			n, err := w.isolate(half, source, err)
			done += n
			if err != nil {
				return done, err
			}
		default:
			return done, err
		}
	}
	return done, nil
}

// reject sets aside a capture the database refused for good: counted in
// dropped_total{reason="rejected"} and dead_letter_total, logged, and appended to
// the dead-letter file while it has room.
func (w *Writer) reject(c model.Capture, cause error) {
	w.m.dropped.WithLabelValues(DropRejected).Inc()
	w.m.deadLetters.Inc()
	w.log.Error("writer: capture rejected by the database; moved to the dead-letter file", "id", c.ID, "err", cause)
	if w.dead == nil {
		return
	}
	ok, err := w.dead.add(w.cfg.Clock.Now(), c, cause.Error())
	if err != nil {
		w.log.Error("writer: dead-letter file write failed", "id", c.ID, "err", err)
	} else if !ok {
		w.log.Error("writer: dead-letter file full; capture not recorded", "id", c.ID, "max_bytes", w.cfg.DeadLetterMaxBytes)
	}
}

// Healthy returns nil while the writer makes progress. It returns an error when
// inserts have been failing, with nothing written, for longer than
// Config.StallAfter: the database is unreachable or the head of the queue or
// spool cannot be written, so captures pile up in the spool instead of the
// database. fpserver's /readyz fails on it.
func (w *Writer) Healthy() error {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	if w.failingSince.IsZero() {
		return nil
	}
	if d := w.cfg.Clock.Now().Sub(w.failingSince); d > w.cfg.StallAfter {
		return fmt.Errorf("writer: no capture written for %s: %w", d.Round(time.Second), w.lastErr)
	}
	return nil
}

// progress records the outcome of one insert attempt for Healthy. A permanent
// error is progress: the bad rows are set aside.
func (w *Writer) progress(err error) {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	if err == nil || permanent(err) {
		w.failingSince, w.lastErr = time.Time{}, nil
		return
	}
	if w.failingSince.IsZero() {
		w.failingSince = w.cfg.Clock.Now()
	}
	w.lastErr = err
}

func permanent(err error) bool {
	return errors.Is(err, model.ErrRejected) || errors.Is(err, model.ErrInvalid)
}

func (w *Writer) insertOnce(batch []model.Capture, source string) error {
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(w.abortCtx, w.cfg.InsertTimeout)
	defer cancel()
	start := w.cfg.Clock.Now()
	var n int64
	var err error
	if vi, ok := w.cfg.Store.(ValidatedInserter); ok && source != "spool" {
		n, err = vi.InsertValidated(ctx, batch)
	} else {
		n, err = w.cfg.Store.InsertCaptures(ctx, batch)
	}
	elapsed := w.cfg.Clock.Now().Sub(start).Seconds()
	w.progress(err)
	if err != nil {
		w.m.batch.WithLabelValues("error").Observe(elapsed)
		return err
	}
	w.m.batch.WithLabelValues("ok").Observe(elapsed)
	w.m.written.WithLabelValues(source).Add(float64(len(batch)))
	if d := int64(len(batch)) - n; d > 0 {
		w.m.duplicates.Add(float64(d))
	}
	return nil
}

// retry keeps inserting batch with backoff until it succeeds or the writer is
// aborted (Close's context ended), in which case the remainder is dropped with
// reason shutdown. Used only without a spool.
func (w *Writer) retry(batch []model.Capture, source string, err error) {
	for attempt := 1; len(batch) > 0; attempt++ {
		w.m.retried.Inc()
		w.log.Warn("writer: batch insert failed; retrying", "attempt", attempt, "err", err)
		if !w.sleep(w.cfg.Backoff(attempt)) {
			w.m.dropped.WithLabelValues(DropShutdown).Add(float64(len(batch)))
			w.shutdownDrops.Add(int64(len(batch)))
			return
		}
		batch, err = w.insert(batch, source)
		if err == nil {
			return
		}
	}
}

// sleep waits d; it returns false if the writer was aborted first.
func (w *Writer) sleep(d time.Duration) bool {
	t := w.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-w.abort:
		return false
	}
}

// drain is the spool replayer. It replays whenever the spool gets records, retrying
// with backoff while the database fails. Once the flushers are done (Close), it
// makes a last pass and returns; during that pass a database failure ends it at
// once, leaving the rest on disk for the next writer instead of holding up
// shutdown.
func (w *Writer) drain() {
	defer w.drainer.Done()
	attempt := 0
	for {
		final := false
		select {
		case <-w.wake:
		case <-w.flushersDone:
			final = true
		case <-w.abort:
			return
		}
		for {
			done, err := w.replayBatch()
			if err == nil {
				attempt = 0
				if done {
					break
				}
				continue
			}
			if isClosed(w.flushersDone) {
				w.log.Warn("writer: database failing during shutdown; leaving captures spooled", "err", err)
				return
			}
			attempt++
			w.m.retried.Inc()
			w.log.Warn("writer: spool replay failed; retrying", "attempt", attempt, "err", err)
			if !w.sleep(w.cfg.Backoff(attempt)) {
				return
			}
		}
		if final {
			return
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// replayBatch writes the next batch of spooled records. done is true when the
// spool was found empty, in which case it has been reset and the writer is back in
// direct mode.
func (w *Writer) replayBatch() (done bool, err error) {
	w.smu.Lock()
	if !w.spool.pending() {
		if w.spool.bytes() > spoolHeaderLen {
			if err := w.spool.reset(); err != nil {
				w.smu.Unlock()
				return false, err
			}
		}
		if w.spooling {
			w.spooling = false
			w.log.Info("writer: spool replayed; writing directly again")
		}
		w.smu.Unlock()
		return true, nil
	}
	from, end := w.spool.readOff, w.spool.size
	w.smu.Unlock()

	batch, next, rerr := w.spool.readBatch(from, end, w.cfg.BatchSize)
	if rerr != nil && len(batch) == 0 {
		// Unreadable record: skip everything up to the end observed, so one
		// damaged region cannot stall the replay forever.
		w.log.Error("writer: corrupt spool data; discarding it", "err", rerr, "bytes", end-next)
		w.m.dropped.WithLabelValues(DropSpoolCorrupt).Inc()
		w.m.spoolCut.Add(float64(end - next))
		w.smu.Lock()
		w.spool.readOff = end
		w.smu.Unlock()
		return false, nil
	}
	if _, err := w.insert(batch, "spool"); err != nil {
		// The read offset is not advanced: the whole batch is replayed again
		// (idempotently) on the next attempt.
		return false, err
	}
	w.smu.Lock()
	w.spool.readOff = next
	w.smu.Unlock()
	return false, nil
}
