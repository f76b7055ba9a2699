// Package store is the storage layer of fpserver and emuproxy: the Store interface,
// its record types, and Open, which picks the backend from a DSN.
//
// Layout (no import cycles):
//
//	store/model       leaf: record types, the Store interface, errors (stdlib only)
//	store/postgres    Postgres backend (pgx), imports model
//	store/sqlite      SQLite backend (modernc.org/sqlite), imports model
//	store             aliases of the model names + Open, imports both backends
//	store/writer      the batched capture writer with its disk spool, imports model
//	store/migrations  embedded numbered SQL per dialect
//	store/storetest   conformance suite + capture generator, imports model
//	store/pgtest      throwaway Postgres clusters for tests
//
// The names below are aliases, so store.Capture and model.Capture are the same type.
package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/postgres"
	"github.com/guanaco-fp/guanaco/store/sqlite"
)

// Record types and the interface, shared with the backends (see package model).
type (
	Store            = model.Store
	Capture          = model.Capture
	HeaderPair       = model.HeaderPair
	Profile          = model.Profile
	FingerprintKind  = model.FingerprintKind
	Totals           = model.Totals
	FingerprintQuery = model.FingerprintQuery
	FingerprintStats = model.FingerprintStats
	FingerprintCount = model.FingerprintCount
	UserAgentCount   = model.UserAgentCount
	TimeWindow       = model.TimeWindow
	VisitVerdict     = model.VisitVerdict
	PendingVisit     = model.PendingVisit
	PendingQuery     = model.PendingQuery
	WireGroup        = model.WireGroup
)

// Errors returned by every Store; test with errors.Is.
var (
	ErrNotFound = model.ErrNotFound
	ErrInvalid  = model.ErrInvalid
	ErrRejected = model.ErrRejected
)

// Fingerprint kinds (indexed columns), in lookup priority order.
const (
	KindJA4             = model.KindJA4
	KindJA4R            = model.KindJA4R
	KindJA3Hash         = model.KindJA3Hash
	KindJA3NHash        = model.KindJA3NHash
	KindAkamaiHash      = model.KindAkamaiHash
	KindPeetPrintHash   = model.KindPeetPrintHash
	KindHeaderOrderHash = model.KindHeaderOrderHash
	KindQUICTPHash      = model.KindQUICTPHash
)

// Initiators.
const (
	InitiatorNavigate  = model.InitiatorNavigate
	InitiatorFetch     = model.InitiatorFetch
	InitiatorXHR       = model.InitiatorXHR
	InitiatorForm      = model.InitiatorForm
	InitiatorEcho      = model.InitiatorEcho
	InitiatorAPI       = model.InitiatorAPI
	InitiatorWebSocket = model.InitiatorWebSocket
	InitiatorIframe    = model.InitiatorIframe
	InitiatorStyle     = model.InitiatorStyle
	InitiatorScript    = model.InitiatorScript
	InitiatorImage     = model.InitiatorImage
	InitiatorFont      = model.InitiatorFont
	InitiatorMedia     = model.InitiatorMedia
	InitiatorManifest  = model.InitiatorManifest
)

// Profile sources (Profile.Source).
const (
	ProfileCurated  = model.ProfileCurated
	ProfileBuiltin  = model.ProfileBuiltin
	ProfileImported = model.ProfileImported
)

// Limits of stored values and of every list a Store returns.
const (
	MaxIDLen          = model.MaxIDLen
	MaxKeyLen         = model.MaxKeyLen
	MaxProfileNameLen = model.MaxProfileNameLen
	MaxLimit          = model.MaxLimit
	MaxHashLen        = model.MaxHashLen
)

// DaysSince is the first day FingerprintStats.Days covers for a value last
// seen at last.
func DaysSince(last time.Time) time.Time { return model.DaysSince(last) }

// Kinds lists the indexed fingerprint kinds in lookup priority order.
func Kinds() []FingerprintKind { return model.Kinds() }

// NewCaptureID returns a new time-ordered, random 32-hex-digit capture ID.
func NewCaptureID(now time.Time) string { return model.NewCaptureID(now) }

// Options tune the backends; the zero value is right for most uses.
type Options struct {
	Postgres postgres.Options
	SQLite   sqlite.Options
	// ReadOnly opens a Postgres database for reading only (a hot standby:
	// no migration is attempted, the schema must be current; see
	// postgres.Options.ReadOnly). SQLite files are opened as usual.
	ReadOnly bool
}

// Open opens the store named by dsn and applies pending migrations:
//
//	postgres://... or postgresql://...   Postgres through pgx (a pgxpool)
//	sqlite:PATH or sqlite://PATH          the embedded SQLite file PATH
//	:memory: or sqlite::memory:           a private in-memory SQLite database (tests)
//	any other string without "://"        a SQLite file path
//
// The SQLite file is created if missing (its directory must exist).
func Open(ctx context.Context, dsn string) (Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with backend options.
func OpenWith(ctx context.Context, dsn string, opts Options) (Store, error) {
	kind, target, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "postgres":
		po := opts.Postgres
		po.ReadOnly = po.ReadOnly || opts.ReadOnly
		db, err := postgres.Open(ctx, target, po)
		if err != nil {
			return nil, fmt.Errorf("store: opening postgres: %w", err)
		}
		return db, nil
	default:
		db, err := sqlite.Open(ctx, target, opts.SQLite)
		if err != nil {
			return nil, fmt.Errorf("store: opening sqlite %s: %w", target, err)
		}
		return db, nil
	}
}

// parseDSN returns the backend ("postgres" or "sqlite") and what to pass to it.
func parseDSN(dsn string) (kind, target string, err error) {
	dsn = strings.TrimSpace(dsn)
	lower := strings.ToLower(dsn)
	switch {
	case dsn == "":
		return "", "", fmt.Errorf("store: empty DSN")
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return "postgres", dsn, nil
	case strings.HasPrefix(lower, "sqlite:"):
		path := dsn[len("sqlite:"):]
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return "", "", fmt.Errorf("store: DSN %q has no file path", dsn)
		}
		return "sqlite", path, nil
	case strings.Contains(dsn, "://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return "", "", fmt.Errorf("store: unsupported DSN scheme %q (want postgres://, sqlite: or a file path)", scheme)
	default:
		return "sqlite", dsn, nil
	}
}
