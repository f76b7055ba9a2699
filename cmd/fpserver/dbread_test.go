package main

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store"
)

// -db-read: the API's capture lookups read the second database, the captures
// the server makes are written to -db. Another fpserver's database stands in
// for a replica (it has captures this server never wrote, and lacks this
// server's), so which database answered is visible.
func TestDBReadServesReadsFromSecondDatabase(t *testing.T) {
	ctx := context.Background()
	c := plainClient()
	other := startServer(t)
	otherRep, _ := getReport(t, c, other.url(t, lnHTTP, "/api/fingerprint"))
	other.waitCapture(t, otherRep.CaptureID)
	replicaPath := filepath.Join(other.dataDir, "fpserver.db")

	s := startServer(t, "-db-read", replicaPath)
	if code, body := get(t, c, s.url(t, lnHTTP, "/api/captures/"+otherRep.CaptureID)); code != http.StatusOK {
		t.Fatalf("GET /api/captures/{the other database's id}: %d %s; want 200 from -db-read", code, body)
	}

	rep, _ := getReport(t, c, s.url(t, lnHTTP, "/api/fingerprint"))
	if rep.CaptureID == "" {
		t.Fatal("no capture id in the live report")
	}
	primary, err := store.Open(ctx, filepath.Join(s.dataDir, "fpserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	waitFor(t, 10*time.Second, "the live capture in -db", func() (bool, error) {
		_, err := primary.Capture(ctx, rep.CaptureID)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	replica, err := store.Open(ctx, replicaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	if _, err := replica.Capture(ctx, rep.CaptureID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the live capture reached -db-read (%v); writes must go to -db only", err)
	}
	// A capture in -db that this process did not just queue (so it is not
	// served from its memory, see read-your-write) is not found: reads come
	// from -db-read.
	extra := store.Capture{ID: store.NewCaptureID(time.Now()), CreatedAt: time.Now(), Initiator: store.InitiatorAPI}
	if _, err := primary.InsertCaptures(ctx, []store.Capture{extra}); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, c, s.url(t, lnHTTP, "/api/captures/"+extra.ID)); code != http.StatusNotFound {
		t.Fatalf("GET /api/captures/{primary-only id}: %d; want 404 (reads come from -db-read)", code)
	}
}
