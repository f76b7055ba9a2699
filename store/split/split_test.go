package split_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/store/split"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

func open(t *testing.T, name string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Two real SQLite databases stand in for a primary and a replica that has not
// caught up: what the split store returns shows which one served each call.
func TestReadsGoToReplicaWritesToPrimary(t *testing.T) {
	ctx := context.Background()
	primary, replica := open(t, "primary.db"), open(t, "replica.db")
	sp, err := split.New(primary, replica)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()

	gen := storetest.NewGenerator(16, time.Now().Add(-time.Hour), time.Second)
	written, replicated := gen.Next(), gen.Next()
	if n, err := sp.InsertCaptures(ctx, []store.Capture{written}); err != nil || n != 1 {
		t.Fatalf("InsertCaptures through split = %d, %v; want 1, nil", n, err)
	}
	if _, err := primary.Capture(ctx, written.ID); err != nil {
		t.Fatalf("write did not reach the primary: %v", err)
	}
	if _, err := sp.Capture(ctx, written.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Capture through split = %v; want ErrNotFound (read from the replica, which lacks it)", err)
	}
	if _, err := replica.InsertCaptures(ctx, []store.Capture{replicated}); err != nil {
		t.Fatal(err)
	}
	got, err := sp.Capture(ctx, replicated.ID)
	if err != nil || got.ID != replicated.ID {
		t.Fatalf("Capture through split = %q, %v; want the replica's capture", got.ID, err)
	}
	if vis, err := sp.CapturesByVisit(ctx, replicated.VisitKey); err != nil || len(vis) != 1 {
		t.Fatalf("CapturesByVisit through split = %d captures, %v; want 1 from the replica", len(vis), err)
	}

	p := store.Profile{Name: "split-test", Browser: "chrome", Version: "1", Platform: "linux",
		JSON: []byte(`{"name":"split-test"}`)}
	if err := sp.UpsertProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Profile(ctx, p.Name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Profile through split = %v; want ErrNotFound from the replica", err)
	}
	if ps, err := primary.ListProfiles(ctx); err != nil || len(ps) != 1 {
		t.Fatalf("primary profiles = %d, %v; want the one upserted through split", len(ps), err)
	}
	if err := sp.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPingNamesTheFailingDatabase(t *testing.T) {
	primary, replica := open(t, "primary.db"), open(t, "replica.db")
	sp, err := split.New(primary, replica)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	if err := replica.Close(); err != nil {
		t.Fatal(err)
	}
	err = sp.Ping(context.Background())
	if err == nil {
		t.Fatal("Ping with a closed replica succeeded")
	}
	if want := "split: read replica:"; !strings.Contains(err.Error(), want) {
		t.Fatalf("Ping error %q does not name the replica (%q)", err, want)
	}
	if _, err := split.New(primary, nil); err == nil {
		t.Fatal("New with a nil read store succeeded")
	}
}
