package main

import (
	"context"
	"errors"
	"testing"
)

// TestReadiness: /readyz's check fails when the store does not answer and when
// the capture writer is stalled, and passes only when both are fine.
func TestReadiness(t *testing.T) {
	down, stalled := errors.New("store down"), errors.New("writer stalled")
	ok := func(context.Context) error { return nil }
	healthy := func() error { return nil }
	cases := []struct {
		ping    func(context.Context) error
		writer  func() error
		wantErr error
	}{
		{ok, healthy, nil},
		{func(context.Context) error { return down }, healthy, down},
		{ok, func() error { return stalled }, stalled},
	}
	for i, c := range cases {
		if err := readiness(c.ping, c.writer)(context.Background()); !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
			t.Errorf("case %d: %v, want %v", i, err, c.wantErr)
		}
	}
}
