package writer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/guanaco-fp/guanaco/store/model"
)

// Spool file format
//
//	header:  8 bytes "GNCSPL01"
//	record:  u32 big-endian payload length n
//	         u32 big-endian CRC-32C of (the 4 length bytes || payload)
//	         n bytes payload (appendCapture encoding of one capture)
//
// Records are only appended, a batch at a time followed by fsync. On open the file
// is scanned and cut at the first record that is incomplete or fails its CRC (a
// write torn by a crash); everything before it is replayed in order. When every
// record has been replayed into the database the file is truncated back to its
// header.
const (
	spoolMagic     = "GNCSPL01"
	spoolHeaderLen = int64(len(spoolMagic))
	recHeaderLen   = 8
	maxRecordLen   = 64 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errSpoolFull is returned by append when the size cap left no room.
var errSpoolFull = errors.New("writer: spool full")

// spool is the append-only overflow file. It is not safe for concurrent use: the
// Writer serialises calls with its spool mutex, except that readBatch may run
// concurrently with append (it only reads bytes below the size observed under the
// mutex, which are immutable until reset).
type spool struct {
	f       *os.File
	unlock  func() error
	path    string
	max     int64
	size    int64 // end of the last complete record
	readOff int64 // start of the next record to replay
	buf     []byte
}

// openSpool opens or creates the spool file at path (and its directory, 0700)
// with a size cap of max bytes, takes an exclusive lock on it, and cuts a torn
// tail. It returns the number of
// bytes cut.
func openSpool(path string, max int64) (*spool, int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, 0, fmt.Errorf("writer: creating spool directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("writer: opening spool: %w", err)
	}
	unlock, err := lockFile(f, path)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	s := &spool{f: f, unlock: unlock, path: path, max: max}
	cut, err := s.recover()
	if err != nil {
		s.close()
		return nil, 0, err
	}
	return s, cut, nil
}

// recover validates the header (writing it to an empty file) and finds the end of
// the last complete record, truncating anything after it.
func (s *spool) recover() (int64, error) {
	fi, err := s.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("writer: spool stat: %w", err)
	}
	if fi.Size() == 0 {
		if _, err := s.f.WriteAt([]byte(spoolMagic), 0); err != nil {
			return 0, fmt.Errorf("writer: writing spool header: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return 0, fmt.Errorf("writer: syncing spool: %w", err)
		}
		s.size, s.readOff = spoolHeaderLen, spoolHeaderLen
		return 0, nil
	}
	hdr := make([]byte, spoolHeaderLen)
	if _, err := s.f.ReadAt(hdr, 0); err != nil || string(hdr) != spoolMagic {
		if fi.Size() < spoolHeaderLen && bytes.HasPrefix([]byte(spoolMagic), hdr[:fi.Size()]) {
			// A crash while writing the header of a new file.
			if err := s.f.Truncate(0); err != nil {
				return 0, fmt.Errorf("writer: resetting spool: %w", err)
			}
			return s.recover()
		}
		return 0, fmt.Errorf("writer: %s is not a spool file (bad header); refusing to overwrite it", s.path)
	}
	r := io.NewSectionReader(s.f, spoolHeaderLen, fi.Size()-spoolHeaderLen)
	end, err := scanRecords(r, func([]byte, int64) error { return nil })
	if err != nil && !errors.Is(err, errTorn) {
		return 0, fmt.Errorf("writer: scanning spool: %w", err)
	}
	s.size = spoolHeaderLen + end
	s.readOff = spoolHeaderLen
	cut := fi.Size() - s.size
	if cut > 0 {
		if err := s.f.Truncate(s.size); err != nil {
			return 0, fmt.Errorf("writer: cutting torn spool tail: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return 0, fmt.Errorf("writer: syncing spool: %w", err)
		}
	}
	return cut, nil
}

var errTorn = errors.New("writer: torn spool record")

// scanRecords reads records from r, calling fn with each payload (valid only
// during the call) and the offset just past it, and returns the offset just past
// the last complete, CRC-valid record accepted by fn. It stops with errTorn at the
// first incomplete or corrupt record, with fn's error if fn fails, and with nil at
// a clean end.
func scanRecords(r io.Reader, fn func(payload []byte, next int64) error) (int64, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var off int64
	hdr := make([]byte, recHeaderLen)
	var payload []byte
	for {
		n, err := io.ReadFull(br, hdr)
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			if n > 0 && (err == io.ErrUnexpectedEOF) {
				return off, errTorn
			}
			return off, err
		}
		plen := binary.BigEndian.Uint32(hdr[0:4])
		if plen == 0 || plen > maxRecordLen {
			return off, errTorn
		}
		if cap(payload) < int(plen) {
			payload = make([]byte, plen)
		}
		payload = payload[:plen]
		if _, err := io.ReadFull(br, payload); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return off, errTorn
			}
			return off, err
		}
		crc := crc32.Update(crc32.Checksum(hdr[0:4], crcTable), crcTable, payload)
		if crc != binary.BigEndian.Uint32(hdr[4:8]) {
			return off, errTorn
		}
		next := off + recHeaderLen + int64(plen)
		if err := fn(payload, next); err != nil {
			return off, err
		}
		off = next
	}
}

// frameRecord frames the payload (already appended to b after a reserved
// recHeaderLen-byte header at start) in place.
func frameRecord(b []byte, start int) {
	payload := b[start+recHeaderLen:]
	binary.BigEndian.PutUint32(b[start:start+4], uint32(len(payload)))
	crc := crc32.Update(crc32.Checksum(b[start:start+4], crcTable), crcTable, payload)
	binary.BigEndian.PutUint32(b[start+4:start+8], crc)
}

// append writes as many of cs as fit under the size cap, in order, then fsyncs.
// It returns how many were written; when that is fewer than len(cs) the error is
// errSpoolFull. On a write error nothing of this call is kept.
func (s *spool) append(cs []model.Capture) (int, error) {
	b := s.buf[:0]
	n := 0
	for i := range cs {
		start := len(b)
		b = append(b, make([]byte, recHeaderLen)...)
		b = appendCapture(b, &cs[i])
		if len(b)-start-recHeaderLen > maxRecordLen || s.size+int64(len(b)) > s.max {
			b = b[:start]
			break
		}
		frameRecord(b, start)
		n++
	}
	s.buf = b
	if n > 0 {
		if _, err := s.f.WriteAt(b, s.size); err != nil {
			s.f.Truncate(s.size) // drop a partial write; the scan on open would cut it anyway
			return 0, fmt.Errorf("writer: appending to spool: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			s.f.Truncate(s.size)
			return 0, fmt.Errorf("writer: syncing spool: %w", err)
		}
		s.size += int64(len(b))
	}
	if len(s.buf) > 8<<20 {
		s.buf = nil // do not pin a large buffer
	}
	if n < len(cs) {
		return n, errSpoolFull
	}
	return n, nil
}

// pending reports whether records remain to be replayed.
func (s *spool) pending() bool { return s.readOff < s.size }

// bytes is the file size in bytes, header included.
func (s *spool) bytes() int64 { return s.size }

// readBatch decodes up to max records starting at from, reading no further than
// end, and returns them with the offset after the last one. Corrupt data (which a
// scan on open would have cut, so only possible through outside damage) is
// reported as an error with the offset of the bad record.
func (s *spool) readBatch(from, end int64, max int) ([]model.Capture, int64, error) {
	r := io.NewSectionReader(s.f, from, end-from)
	var out []model.Capture
	var last int64
	errFull := errors.New("batch full")
	n, err := scanRecords(r, func(p []byte, next int64) error {
		c, err := decodeCapture(bytes.Clone(p))
		if err != nil {
			return err
		}
		out = append(out, c)
		last = next
		if len(out) == max {
			return errFull
		}
		return nil
	})
	if errors.Is(err, errFull) {
		return out, from + last, nil
	}
	if err != nil {
		return out, from + n, fmt.Errorf("writer: reading spool at offset %d: %w", from+n, err)
	}
	return out, from + n, nil
}

// reset truncates the file back to its header once everything was replayed.
func (s *spool) reset() error {
	if err := s.f.Truncate(spoolHeaderLen); err != nil {
		return fmt.Errorf("writer: truncating spool: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("writer: syncing spool: %w", err)
	}
	s.size, s.readOff = spoolHeaderLen, spoolHeaderLen
	return nil
}

func (s *spool) close() error {
	err := s.unlock()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writer: closing spool: %w", err)
	}
	return nil
}
