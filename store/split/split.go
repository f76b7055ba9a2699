// Package split routes a store's read queries to a second database (a read
// replica) while everything else goes to the primary.
//
// A Store embeds the primary, so every method of store.Store that this package
// does not override (writes, curation, retention, and any method added to the
// interface later) reaches the primary. The overridden methods are the read-only
// queries behind fpserver's pages and JSON API: Capture, CapturesByVisit,
// CapturesByFingerprint, FingerprintStats, TopFingerprints, TopUserAgents, CaptureTotals,
// Profile, ListProfiles and VisitVerdict. They may see the replica's lag: a
// capture acknowledged a moment ago can still be missing there.
package split

import (
	"context"
	"errors"
	"fmt"

	"github.com/guanaco-fp/guanaco/store"
)

// Store sends the read queries listed in the package comment to Read and every
// other call to the embedded primary.
type Store struct {
	store.Store             // the primary: writes and everything not listed
	Read        store.Store // the replica: page and API reads
}

var _ store.Store = (*Store)(nil)

// New returns a Store reading from read and writing to primary. Both must be
// non-nil; Close closes both.
func New(primary, read store.Store) (*Store, error) {
	if primary == nil || read == nil {
		return nil, errors.New("split: primary and read stores are required")
	}
	return &Store{Store: primary, Read: read}, nil
}

// Capture reads from the replica.
func (s *Store) Capture(ctx context.Context, id string) (store.Capture, error) {
	return s.Read.Capture(ctx, id)
}

// CaptureTotals reads from the replica.
func (s *Store) CaptureTotals(ctx context.Context, w store.TimeWindow) (store.Totals, error) {
	return s.Read.CaptureTotals(ctx, w)
}

// CapturesByVisit reads from the replica.
func (s *Store) CapturesByVisit(ctx context.Context, visitKey string) ([]store.Capture, error) {
	return s.Read.CapturesByVisit(ctx, visitKey)
}

// CapturesByFingerprint reads from the replica.
func (s *Store) CapturesByFingerprint(ctx context.Context, q store.FingerprintQuery) ([]store.Capture, store.FingerprintKind, error) {
	return s.Read.CapturesByFingerprint(ctx, q)
}

// FingerprintStats reads from the replica.
func (s *Store) FingerprintStats(ctx context.Context, q store.FingerprintQuery) (store.FingerprintStats, error) {
	return s.Read.FingerprintStats(ctx, q)
}

// TopFingerprints reads from the replica.
func (s *Store) TopFingerprints(ctx context.Context, kind store.FingerprintKind, w store.TimeWindow, limit int) ([]store.FingerprintCount, error) {
	return s.Read.TopFingerprints(ctx, kind, w, limit)
}

// TopUserAgents reads from the replica.
func (s *Store) TopUserAgents(ctx context.Context, w store.TimeWindow, limit int) ([]store.UserAgentCount, error) {
	return s.Read.TopUserAgents(ctx, w, limit)
}

// Profile reads from the replica.
func (s *Store) Profile(ctx context.Context, name string) (store.Profile, error) {
	return s.Read.Profile(ctx, name)
}

// ListProfiles reads from the replica.
func (s *Store) ListProfiles(ctx context.Context) ([]store.Profile, error) {
	return s.Read.ListProfiles(ctx)
}

// VisitVerdict reads from the replica.
func (s *Store) VisitVerdict(ctx context.Context, visitKey string) (store.VisitVerdict, error) {
	return s.Read.VisitVerdict(ctx, visitKey)
}

// Ping checks both databases; the error names the one that failed.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.Store.Ping(ctx); err != nil {
		return fmt.Errorf("split: primary: %w", err)
	}
	if err := s.Read.Ping(ctx); err != nil {
		return fmt.Errorf("split: read replica: %w", err)
	}
	return nil
}

// Close closes both stores and returns the first error.
func (s *Store) Close() error {
	perr := s.Store.Close()
	rerr := s.Read.Close()
	if perr != nil {
		return fmt.Errorf("split: closing primary: %w", perr)
	}
	if rerr != nil {
		return fmt.Errorf("split: closing read replica: %w", rerr)
	}
	return nil
}
