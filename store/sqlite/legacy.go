package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
)

// legacyCols are model.LegacyColumns after the rowid the conversion walks.
var legacyCols = append([]string{"rowid"}, model.LegacyColumns...)

// legacyChunk is how many legacy rows one conversion transaction moves.
const legacyChunk = 2000

// convertLegacy moves the rows of captures_legacy into the normalised tables,
// legacyChunk rows per transaction (each chunk is inserted and deleted from
// the legacy table atomically, so an interrupted conversion resumes where it
// stopped), then drops the legacy table. It returns how many rows it moved.
func (db *DB) convertLegacy(ctx context.Context) (int64, error) {
	var n int
	if err := db.w.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'captures_legacy'").Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: converting old captures: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var moved int64
	for {
		k, err := db.convertChunk(ctx)
		moved += int64(k)
		if err != nil {
			return moved, err
		}
		if k == 0 {
			break
		}
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if _, err := db.w.ExecContext(ctx, "DROP TABLE captures_legacy"); err != nil {
		return moved, fmt.Errorf("sqlite: dropping the converted old captures: %w", err)
	}
	return moved, nil
}

func (db *DB) convertChunk(ctx context.Context) (int, error) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlite: converting old captures: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: converting old captures: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT "+strings.Join(legacyCols, ", ")+" FROM captures_legacy ORDER BY rowid LIMIT ?", legacyChunk)
	if err != nil {
		return 0, fmt.Errorf("sqlite: converting old captures: %w", err)
	}
	var last int64
	var batch []model.Capture
	for rows.Next() {
		var c model.Capture
		var created int64
		var tlsSummary, h2 sql.NullString
		var headers string
		if err := rows.Scan(&last, &c.ID, &created, &c.VisitKey, &c.Initiator, &c.ClientIP, &c.UserAgent, &c.Host, &c.Method, &c.Path,
			&c.HTTPVersion, &c.TLSVersion, &c.SNI, &c.ALPN, &c.ClientHello, &tlsSummary, &headers, &h2,
			&c.JA3, &c.JA3Hash, &c.JA3N, &c.JA3NHash, &c.JA4, &c.JA4R, &c.JA4O, &c.JA4RO,
			&c.PeetPrint, &c.PeetPrintHash, &c.Akamai, &c.AkamaiHash, &c.HeaderOrder, &c.HeaderOrderHash); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: converting old captures: %w", err)
		}
		c.CreatedAt = fromMicros(created)
		if tlsSummary.Valid {
			c.TLSSummary = []byte(tlsSummary.String)
		}
		if h2.Valid {
			c.H2 = []byte(h2.String)
		}
		if c.Headers, err = model.DecodeHeaders([]byte(headers)); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: converting old capture %s: %w", c.ID, err)
		}
		model.PrepareLegacy(&c)
		batch = append(batch, c)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("sqlite: converting old captures: %w", err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	now := time.Now()
	sp := db.split
	sp.Reset()
	for i := range batch {
		c := batch[i].Normalized()
		if err := sp.Add(&c, now); err != nil {
			return 0, fmt.Errorf("sqlite: converting old captures: %w", err)
		}
	}
	if _, err := db.insertSplit(ctx, conn, now); err != nil {
		return 0, fmt.Errorf("sqlite: converting old captures: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM captures_legacy WHERE rowid <= ?", last); err != nil {
		return 0, fmt.Errorf("sqlite: converting old captures: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: converting old captures: %w", err)
	}
	sp.Commit(now)
	db.seqs.commit()
	return len(batch), nil
}
