package cluster

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is an exponential delay with jitter: first, 2*first, ... up to
// limit, each scaled by a random factor in [0.8, 1.2). Not safe for
// concurrent use; each loop owns its own.
type backoff struct {
	first, limit, cur time.Duration
}

func newBackoff(first, limit time.Duration) *backoff {
	return &backoff{first: first, limit: limit}
}

// next returns the next delay and doubles the one after it.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.first
	}
	d := b.cur
	b.cur = min(2*b.cur, b.limit)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// reset starts over from the first delay.
func (b *backoff) reset() { b.cur = 0 }

// sleep waits for d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// episode tells the first failure of a run of failures from the rest, so
// that a long backend outage logs one warning, not one per retry.
type episode struct{ failing bool }

// fail records a failure and reports whether it starts a new episode.
func (e *episode) fail() bool {
	first := !e.failing
	e.failing = true
	return first
}

// ok records a success and reports whether it ends an episode.
func (e *episode) ok() bool {
	was := e.failing
	e.failing = false
	return was
}
