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

// legacyChunk is how many legacy rows one conversion transaction moves.
const legacyChunk = 2000

// legacyLockKey is the pg_advisory_xact_lock key serialising the conversion
// between processes opening the database at once ("guanaco" + 3).
const legacyLockKey int64 = 0x6775616e61636f03

// convertLegacy moves the rows of captures_legacy into the normalised tables,
// legacyChunk rows per transaction in (created_at, id) order (each chunk is
// inserted and deleted from the legacy table atomically, so an interrupted
// conversion resumes where it stopped), then drops the legacy table. It
// returns how many rows this process moved.
func (db *DB) convertLegacy(ctx context.Context) (int64, error) {
	var moved int64
	for {
		var exists bool
		if err := db.pool.QueryRow(ctx, "SELECT to_regclass('captures_legacy') IS NOT NULL").Scan(&exists); err != nil {
			return moved, fmt.Errorf("postgres: converting old captures: %w", err)
		}
		if !exists {
			return moved, nil
		}
		k, err := db.convertChunk(ctx)
		moved += int64(k)
		if err != nil {
			return moved, err
		}
	}
}

// convertChunk converts up to legacyChunk rows, or drops the legacy table
// when it is empty.
func (db *DB) convertChunk(ctx context.Context) (int, error) {
	// Peek at the chunk's days first: partitions are created in their own
	// transactions.
	var times []time.Time
	rows, err := db.pool.Query(ctx, "SELECT created_at FROM captures_legacy ORDER BY created_at, id LIMIT $1", legacyChunk)
	if err == nil {
		times, err = pgx.CollectRows(rows, pgx.RowTo[time.Time])
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		// Another process finished the conversion and dropped the table.
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: converting old captures: %w", err)
	}
	var days []int64
	for _, t := range times {
		if d := dayOf(t); len(days) == 0 || days[len(days)-1] != d {
			days = append(days, d)
		}
	}
	if err := db.createPartitions(ctx, days); err != nil {
		return 0, err
	}

	sp := db.splits.Get().(*model.Split)
	defer db.splits.Put(sp)
	sp.Reset()
	now := time.Now()
	var n int
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", legacyLockKey); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass('captures_legacy') IS NOT NULL").Scan(&exists); err != nil || !exists {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT "+strings.Join(model.LegacyColumns, ", ")+" FROM captures_legacy ORDER BY created_at, id LIMIT $1", legacyChunk)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var c model.Capture
			var tlsSummary, headers, h2 []byte
			if err := rows.Scan(&c.ID, &c.CreatedAt, &c.VisitKey, &c.Initiator, &c.ClientIP, &c.UserAgent, &c.Host, &c.Method, &c.Path,
				&c.HTTPVersion, &c.TLSVersion, &c.SNI, &c.ALPN, &c.ClientHello, &tlsSummary, &headers, &h2,
				&c.JA3, &c.JA3Hash, &c.JA3N, &c.JA3NHash, &c.JA4, &c.JA4R, &c.JA4O, &c.JA4RO,
				&c.PeetPrint, &c.PeetPrintHash, &c.Akamai, &c.AkamaiHash, &c.HeaderOrder, &c.HeaderOrderHash); err != nil {
				rows.Close()
				return err
			}
			c.TLSSummary, c.H2 = tlsSummary, h2
			if c.Headers, err = model.DecodeHeaders(headers); err != nil {
				rows.Close()
				return fmt.Errorf("capture %s: %w", c.ID, err)
			}
			model.PrepareLegacy(&c)
			c = c.Normalized()
			if err := sp.Add(&c, now); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, c.ID)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			_, err := tx.Exec(ctx, "DROP TABLE captures_legacy")
			return err
		}
		if _, err := writeRows(ctx, tx, sp, now, false); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM captures_legacy WHERE id = ANY($1)", ids); err != nil {
			return err
		}
		n = len(ids)
		return nil
	})
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		// Dropped by another process between the check and the read.
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: converting old captures: %w", err)
	}
	sp.Commit(now)
	return n, nil
}
