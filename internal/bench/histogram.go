package bench

import (
	"math/bits"
	"sync"
	"time"
)

// Histogram buckets with subBits significant bits: values below 2^(subBits+1)
// ns are exact, larger ones fall in buckets at most 1/2^subBits (1.6%) wide.
const (
	subBits    = 6
	subCount   = 1 << subBits // 64 buckets per power of two
	exactLimit = 2 * subCount // values below this are their own bucket
	numBuckets = exactLimit + (64-subBits-1)*subCount
)

// Histogram is a log-linear latency histogram in nanoseconds: constant
// memory whatever the number of samples, each percentile within 1.6% of the
// exact one. It is safe for concurrent use.
type Histogram struct {
	mu     sync.Mutex
	counts [numBuckets]uint64
	n      uint64
	max    int64
}

func bucketOf(v uint64) int {
	if v < exactLimit {
		return int(v)
	}
	e := bits.Len64(v) - (subBits + 1) // >= 1; v>>e is in [64, 127]
	return exactLimit + (e-1)*subCount + int(v>>uint(e)) - subCount
}

// bucketHigh is the largest value that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < exactLimit {
		return uint64(i)
	}
	e := (i-exactLimit)/subCount + 1
	m := uint64((i-exactLimit)%subCount + subCount)
	return (m+1)<<uint(e) - 1
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.mu.Lock()
	h.counts[bucketOf(uint64(v))]++
	h.n++
	h.max = max(h.max, v)
	h.mu.Unlock()
}

// Count is the number of samples recorded.
func (h *Histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Quantile returns the q-quantile (0 < q <= 1) as the upper bound of the
// bucket holding it, never more than the largest sample; 0 with no samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.quantileLocked(q)
}

func (h *Histogram) quantileLocked(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketHigh(i), uint64(h.max)))
		}
	}
	return time.Duration(h.max)
}

// Latency summarizes h in milliseconds.
func (h *Histogram) Latency() *Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &Latency{
		Samples: h.n,
		P50:     ms(h.quantileLocked(0.50)),
		P90:     ms(h.quantileLocked(0.90)),
		P99:     ms(h.quantileLocked(0.99)),
		P999:    ms(h.quantileLocked(0.999)),
		Max:     ms(time.Duration(h.max)),
	}
}
