package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	"github.com/guanaco-fp/guanaco/store/model"
)

// connSeqSQL finds a stored connection's seq by its id.
const connSeqSQL = "SELECT seq FROM connections WHERE id = ?"

// errConnMissing: a request's connection, which the writer's cache took for
// stored, is not in the database (deleted by another process).
var errConnMissing = errors.New("sqlite: connection of a request not stored")

// maxConnSeqs bounds the seqs remembered; past it they are forgotten (the
// next batch on each connection then looks its seq up once).
const maxConnSeqs = 1 << 18

// connSeqs maps connection ids (model.ConnRow.ID) to the seq of their rows
// (migration 0009), which requests.conn_id holds. The seqs of connections a
// batch inserts come from its statements (an INSERT's rows get consecutive
// seqs, the last one its last rowid); the seq of any other connection is
// looked up once by id and remembered. Guarded by DB.wmu.
type connSeqs struct {
	// stored: seqs of connections stored by committed batches.
	stored map[int64]int64
	// batch: seqs learnt by the current batch, moved to stored by commit.
	batch map[int64]int64
	// reqs: the seq of each request of the batch, in order.
	reqs []int64
	// todo: indexes of the batch's connections to insert.
	todo []int
	args [1]driver.NamedValue
	dest [1]driver.Value
}

func newConnSeqs() *connSeqs {
	s := &connSeqs{stored: map[int64]int64{}, batch: map[int64]int64{}}
	s.args[0].Ordinal = 1
	return s
}

// begin starts a batch.
func (s *connSeqs) begin() { clear(s.batch) }

func (s *connSeqs) get(id int64) (int64, bool) {
	if seq, ok := s.batch[id]; ok {
		return seq, true
	}
	seq, ok := s.stored[id]
	return seq, ok
}

// unknown returns the indexes of the conns whose seq is not known (the
// others are stored: they need no insert).
func (s *connSeqs) unknown(conns []model.ConnRow) []int {
	s.todo = s.todo[:0]
	for i := range conns {
		if _, ok := s.get(conns[i].ID); !ok {
			s.todo = append(s.todo, i)
		}
	}
	return s.todo
}

// inserted learns the seqs of conns[rows], the connections of one multi-row
// INSERT OR IGNORE, from its result: when it inserted every row, they got
// consecutive seqs up to its last rowid, in order; otherwise (a connection
// stored before this process knew it: a restart, a replay) seqsOf looks
// them up.
func (s *connSeqs) inserted(conns []model.ConnRow, rows []int, res driver.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: inserting into connections: %w", err)
	}
	if n != int64(len(rows)) {
		return nil
	}
	last, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: inserting into connections: %w", err)
	}
	for i, k := range rows {
		s.batch[conns[k].ID] = last - n + 1 + int64(i)
	}
	return nil
}

// seqsOf fills s.reqs with the seq of each request's connection, looking up
// the ones not known; errConnMissing when one is not stored.
func (s *connSeqs) seqsOf(ctx context.Context, in *inserts, reqs []model.RequestRow) error {
	s.reqs = s.reqs[:0]
	var conn, seq int64
	for i := range reqs {
		r := &reqs[i]
		if i == 0 || r.Conn != conn {
			conn = r.Conn
			var ok bool
			if seq, ok = s.get(conn); !ok {
				var err error
				if seq, err = s.lookup(ctx, in, conn); err != nil {
					return err
				}
				s.batch[conn] = seq
			}
		}
		s.reqs = append(s.reqs, seq)
	}
	return nil
}

// lookup reads the seq of connection id.
func (s *connSeqs) lookup(ctx context.Context, in *inserts, id int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("sqlite: reading a connection: %w", err)
	}
	s.args[0].Value = id
	rows, err := in.connSeq.QueryContext(context.WithoutCancel(ctx), s.args[:])
	if err != nil {
		return 0, fmt.Errorf("sqlite: reading connection %d: %w", id, err)
	}
	defer rows.Close()
	switch err := rows.Next(s.dest[:]); {
	case err == io.EOF:
		return 0, fmt.Errorf("%w: connection %d", errConnMissing, id)
	case err != nil:
		return 0, fmt.Errorf("sqlite: reading connection %d: %w", id, err)
	}
	seq, ok := s.dest[0].(int64)
	if !ok {
		return 0, fmt.Errorf("sqlite: reading connection %d: seq is %T", id, s.dest[0])
	}
	return seq, nil
}

// commit remembers the batch's seqs; call it after the batch's transaction
// committed.
func (s *connSeqs) commit() {
	if len(s.stored)+len(s.batch) > maxConnSeqs {
		clear(s.stored)
	}
	for id, seq := range s.batch {
		s.stored[id] = seq
	}
	clear(s.batch)
}

// forget drops every remembered seq (retention deleted connections).
func (s *connSeqs) forget() {
	clear(s.stored)
	clear(s.batch)
}
