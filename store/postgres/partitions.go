package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/guanaco-fp/guanaco/store/model"
)

// requests is partitioned by UTC day (migration 0004). A day is the number of
// days since the Unix epoch; its partition is requests_pYYYYMMDD holding
// [midnight, next midnight).

// partitionLockKey is the pg_advisory_xact_lock key serialising partition
// creation and removal between processes ("guanaco" + 2).
const partitionLockKey int64 = 0x6775616e61636f02

// Partitions are made for days within this range of the present; requests of
// other days (a clock far off) go to requests_default.
const (
	partitionPast   = 3 * 365
	partitionFuture = 7
	// partitionAhead is how many days after today Open and every new day
	// create in advance, so writers rarely wait for a CREATE.
	partitionAhead = 2
)

func dayOf(t time.Time) int64 { return t.Unix() / 86400 }

func dayStart(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }

func partitionName(d int64) string { return "requests_p" + dayStart(d).Format("20060102") }

// partitionDay parses a partition name back into its day.
func partitionDay(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, "requests_p")
	if !ok {
		return 0, false
	}
	t, err := time.Parse("20060102", s)
	if err != nil {
		return 0, false
	}
	return dayOf(t), true
}

// ensureDays makes sure the partition of every request's day exists (or that
// the day was handled: out of range or left to the default partition).
func (db *DB) ensureDays(ctx context.Context, rs []model.RequestRow) error {
	last := int64(-1 << 62)
	var missing []int64
	db.daysMu.Lock()
	for i := range rs {
		d := dayOf(rs[i].CreatedAt)
		if d == last {
			continue
		}
		last = d
		if _, ok := db.days[d]; !ok {
			missing = append(missing, d)
		}
	}
	db.daysMu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	today := dayOf(time.Now())
	missing = append(missing, today, today+partitionAhead)
	return db.createPartitions(ctx, missing)
}

// createPartitions creates the partitions of days (duplicates allowed) that
// do not exist yet, one transaction each, and records them as known. A day
// outside the partitioned range, or whose rows already sit in the default
// partition (the database refuses a partition that would have to take them
// over), is recorded as known and left to the default partition.
func (db *DB) createPartitions(ctx context.Context, days []int64) error {
	today := dayOf(time.Now())
	for _, d := range days {
		db.daysMu.Lock()
		_, known := db.days[d]
		db.daysMu.Unlock()
		if known {
			continue
		}
		if d < today-partitionPast || d > today+partitionFuture {
			db.markDay(d)
			continue
		}
		err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", partitionLockKey); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s PARTITION OF requests FOR VALUES FROM ('%s') TO ('%s')",
				partitionName(d), dayStart(d).Format(time.RFC3339), dayStart(d+1).Format(time.RFC3339)))
			return err
		})
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "23514") {
			return fmt.Errorf("postgres: creating partition %s: %w", partitionName(d), err)
		}
		db.markDay(d)
	}
	return nil
}

func (db *DB) markDay(d int64) {
	db.daysMu.Lock()
	db.days[d] = struct{}{}
	db.daysMu.Unlock()
}

// partitions lists the day partitions of requests, oldest first.
func (db *DB) partitions(ctx context.Context) ([]int64, error) {
	rows, err := db.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'requests'::regclass ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: listing partitions: %w", err)
	}
	var out []int64
	for _, n := range names {
		if d, ok := partitionDay(n); ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// dropPartitionsBefore drops the day partitions that end at or before cutoff
// and returns how many requests they held.
func (db *DB) dropPartitionsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	days, err := db.partitions(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, d := range days {
		if dayStart(d + 1).After(cutoff) {
			break
		}
		name := partitionName(d)
		var n int64
		err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", partitionLockKey); err != nil {
				return err
			}
			var exists bool
			if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil || !exists {
				return err
			}
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+name).Scan(&n); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "DROP TABLE "+name)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("postgres: dropping partition %s: %w", name, err)
		}
		total += n
		db.daysMu.Lock()
		delete(db.days, d)
		db.daysMu.Unlock()
	}
	return total, nil
}

// deleteVerdictsSQL deletes a chunk of the refused verdicts seen before $1
// (along visit_verdicts_refused_idx).
const deleteVerdictsSQL = "DELETE FROM visit_verdicts WHERE visit_key IN (SELECT visit_key FROM visit_verdicts WHERE NOT accepted AND seen_at < $1 LIMIT $2)"

// DeleteCapturesBefore implements model.Store: whole day partitions before
// the cutoff are dropped, the remaining older requests (the cutoff's own day,
// the default partition) deleted in chunks; then the connections left without
// requests, the refused verdicts, and the dictionary entries no writer used
// for model.DictRetentionSlack before min(cutoff, now). The count is the
// requests and verdicts deleted.
func (db *DB) DeleteCapturesBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("postgres: deleting old captures: %w", err)
	}
	total, err := db.dropPartitionsBefore(ctx, cutoff)
	if err != nil {
		return total, err
	}
	dictCutoff := cutoff
	if now := time.Now(); now.Before(dictCutoff) {
		dictCutoff = now
	}
	dictCutoff = dictCutoff.Add(-model.DictRetentionSlack)
	for _, del := range []struct {
		what, query string
		cutoff      time.Time
		counted     bool
	}{
		{"old captures", "DELETE FROM requests WHERE (id, created_at) IN (SELECT id, created_at FROM requests WHERE created_at < $1 LIMIT $2)", cutoff, true},
		{"old connections", "DELETE FROM connections WHERE id IN (SELECT c.id FROM connections c WHERE c.created_at < $1 " +
			"AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.conn_id = c.id) LIMIT $2)", cutoff, false},
		{"old refused verdicts", deleteVerdictsSQL, cutoff, true},
		{"unused dictionary entries", "DELETE FROM dict WHERE id IN (SELECT id FROM dict WHERE last_seen < $1 LIMIT $2)", dictCutoff, false},
	} {
		for {
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("postgres: deleting %s: %w", del.what, err)
			}
			tag, err := db.pool.Exec(ctx, del.query, del.cutoff, db.opts.DeleteChunk)
			if err != nil {
				return total, fmt.Errorf("postgres: deleting %s: %w", del.what, err)
			}
			n := tag.RowsAffected()
			if del.counted {
				total += n
			} else if n > 0 {
				// The writers' cache may name what was deleted.
				db.cache.Forget()
			}
			if n < int64(db.opts.DeleteChunk) {
				break
			}
		}
	}
	return total, nil
}
