package curate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/store"
)

// Known is the set of profiles a client is compared with: the built-in
// catalogue and every valid profile in the store, re-read at most once per
// TTL. A failed read keeps the previous set.
type Known struct {
	st  store.Store
	ttl time.Duration

	mu      sync.Mutex
	at      time.Time
	current []*emulation.Profile
}

// NewKnown returns a Known reading st (nil: the catalogue only) every ttl.
func NewKnown(st store.Store, ttl time.Duration) *Known {
	return &Known{st: st, ttl: ttl}
}

// Profiles returns the current set. Callers must not modify the profiles.
func (k *Known) Profiles(ctx context.Context) []*emulation.Profile {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current != nil && time.Since(k.at) < k.ttl {
		return k.current
	}
	var out []*emulation.Profile
	if builtin, err := emulation.Catalogue(); err == nil {
		out = append(out, builtin...)
	}
	if k.st != nil {
		recs, err := k.st.ListProfiles(ctx)
		if err != nil && k.current != nil {
			k.at = time.Now()
			return k.current
		}
		for _, r := range recs {
			var p emulation.Profile
			if json.Unmarshal(r.JSON, &p) != nil || p.Validate() != nil {
				continue
			}
			if !containsName(out, p.Name) {
				out = append(out, &p)
			}
		}
	}
	k.current, k.at = out, time.Now()
	return out
}

func containsName(ps []*emulation.Profile, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

// SeedBuiltin stores the built-in catalogue in st as source "builtin", so
// the profile pages and emuproxy's -profiles-db see them: a missing one is
// inserted and a stored built-in one whose document changed is replaced.
// A name held by an imported or curated profile is left alone. It returns
// the names written.
func SeedBuiltin(ctx context.Context, st store.Store) ([]string, error) {
	builtin, err := emulation.Catalogue()
	if err != nil {
		return nil, err
	}
	var wrote []string
	for _, p := range builtin {
		p.Source.Kind = emulation.SourceBuiltin
		doc, err := json.Marshal(p)
		if err != nil {
			return wrote, fmt.Errorf("curate: encoding %s: %w", p.Name, err)
		}
		cur, err := st.Profile(ctx, p.Name)
		switch {
		case err == nil && (cur.Source != store.ProfileBuiltin || bytes.Equal(cur.JSON, doc)):
			continue
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return wrote, fmt.Errorf("curate: reading %s: %w", p.Name, err)
		}
		rec := store.Profile{Name: p.Name, Browser: p.Browser, Version: p.Version, Platform: p.Platform,
			JSON: doc, Source: store.ProfileBuiltin}
		if err := st.UpsertProfile(ctx, rec); err != nil {
			return wrote, fmt.Errorf("curate: storing %s: %w", p.Name, err)
		}
		wrote = append(wrote, p.Name)
	}
	return wrote, nil
}
