package writer

import (
	"math/rand/v2"
	"time"
)

// Clock is the writer's source of time, injectable for tests.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer firing once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a stoppable one-shot timer.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was active.
	Stop() bool
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.t.C }
func (t sysTimer) Stop() bool          { return t.t.Stop() }

var _ Clock = SystemClock{}

// Backoff returns how long to wait before retry number attempt (1 for the first
// retry).
type Backoff func(attempt int) time.Duration

// ExponentialBackoff doubles from min up to max, with "equal jitter": the wait is
// uniformly random in [d/2, d] for the un-jittered d, so retries of many writers
// spread out while the wait still grows.
func ExponentialBackoff(min, max time.Duration) Backoff {
	return func(attempt int) time.Duration {
		d := min
		for i := 1; i < attempt && d < max; i++ {
			d *= 2
		}
		if d > max {
			d = max
		}
		half := d / 2
		if half <= 0 {
			return d
		}
		return half + rand.N(half+1)
	}
}
