package writer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
)

// deadLetter is the append-only file of captures the database refused for good
// (model.ErrRejected, model.ErrInvalid): one JSON object per line,
// {"time", "id", "reason", "capture"}, capture being model.Capture's JSON encoding.
// Records that would take the file past max are not written (the caller counts
// and logs them anyway). Safe for concurrent use.
type deadLetter struct {
	mu   sync.Mutex
	f    *os.File
	size int64
	max  int64
}

// deadLetterRecord is one line of the dead-letter file.
type deadLetterRecord struct {
	Time    time.Time     `json:"time"`
	ID      string        `json:"id"`
	Reason  string        `json:"reason"`
	Capture model.Capture `json:"capture"`
}

func openDeadLetter(path string, max int64) (*deadLetter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("writer: creating dead-letter directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("writer: opening dead-letter file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("writer: dead-letter file stat: %w", err)
	}
	return &deadLetter{f: f, size: fi.Size(), max: max}, nil
}

// add appends c with reason. It reports whether the record was written; a full
// file is not an error.
func (d *deadLetter) add(now time.Time, c model.Capture, reason string) (bool, error) {
	line, err := json.Marshal(deadLetterRecord{Time: now.UTC(), ID: c.ID, Reason: reason, Capture: c})
	if err != nil {
		return false, fmt.Errorf("writer: encoding dead letter %s: %w", c.ID, err)
	}
	line = append(line, '\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.size+int64(len(line)) > d.max {
		return false, nil
	}
	n, err := d.f.Write(line)
	d.size += int64(n)
	if err != nil {
		return false, fmt.Errorf("writer: writing dead letter %s: %w", c.ID, err)
	}
	return true, nil
}

func (d *deadLetter) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("writer: closing dead-letter file: %w", err)
	}
	return nil
}
