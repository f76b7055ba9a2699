package storetest

import (
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
)

// TestGeneratorSizes pins the average capture sizes the benchmarks quote.
func TestGeneratorSizes(t *testing.T) {
	for _, tc := range []struct {
		size     Size
		min, max int
	}{{Classic, 2900, 3600}, {PostQuantum, 3600, 4300}} {
		g := NewSizedGenerator(1, time.Now(), time.Millisecond, tc.size)
		total := 0
		const n = 4000
		ids := map[string]bool{}
		visits := map[string]int{}
		for i := 0; i < n; i++ {
			c := g.Next()
			if err := c.Validate(); err != nil {
				t.Fatalf("generated capture invalid: %v", err)
			}
			total += c.ApproxSize()
			ids[c.ID] = true
			visits[c.VisitKey]++
		}
		avg := total / n
		t.Logf("size %d: average %d bytes/capture, %d visits", tc.size, avg, len(visits))
		if avg < tc.min || avg > tc.max {
			t.Errorf("size %d: average %d bytes, want %d..%d", tc.size, avg, tc.min, tc.max)
		}
		if len(ids) != n {
			t.Errorf("%d distinct ids for %d captures", len(ids), n)
		}
		if len(visits) < n/4 || len(visits) > n {
			t.Errorf("%d visits for %d captures, want groups of 1-4", len(visits), n)
		}
	}
}

func TestGeneratorFingerprintsShared(t *testing.T) {
	g := NewGenerator(7, time.Now(), time.Millisecond)
	ja4 := map[string]int{}
	for _, c := range g.Batch(1000) {
		ja4[c.Value(model.KindJA4)]++
	}
	if len(ja4) < 2 || len(ja4) > 4 {
		t.Errorf("%d distinct JA4 values over 1000 captures, want one per family", len(ja4))
	}
}
