package commitlog

import (
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
)

// FlushPolicy says when appended data is forced to stable storage.
type FlushPolicy int

const (
	// FlushNone writes into the page cache and leaves writeback to the
	// OS: an acknowledged append survives a crash of the process, not a
	// power loss (Kafka's default; replication covers the rest).
	FlushNone FlushPolicy = iota
	// FlushAlways fsyncs the segment before Append returns.
	FlushAlways
	// FlushInterval fsyncs the active segment every Config.FlushInterval
	// from the log's background goroutine.
	FlushInterval
)

// String returns the policy's name as ParseFlushPolicy accepts it.
func (p FlushPolicy) String() string {
	switch p {
	case FlushNone:
		return "none"
	case FlushAlways:
		return "always"
	case FlushInterval:
		return "interval"
	}
	return fmt.Sprintf("FlushPolicy(%d)", int(p))
}

// ParseFlushPolicy parses "none", "always" or "interval".
func ParseFlushPolicy(s string) (FlushPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none":
		return FlushNone, nil
	case "always":
		return FlushAlways, nil
	case "interval":
		return FlushInterval, nil
	}
	return 0, fmt.Errorf("%w: unknown flush policy %q (want none, always or interval)", ErrInvalidConfig, s)
}

// MinSegmentBytes is the smallest accepted Config.SegmentBytes.
const MinSegmentBytes = HeaderSize

// Config is the per-partition log configuration. The Kafka topic config
// each field implements is named in its comment.
type Config struct {
	// SegmentBytes (segment.bytes): the active segment is rolled before
	// an append that would make it larger. A batch larger than this gets
	// a segment of its own. At most math.MaxInt32.
	SegmentBytes int64
	// SegmentMs (segment.ms): the active segment is rolled on the first
	// append after it has been open this long (measured from its first
	// batch's max timestamp, or its creation if that has none). Zero
	// disables time-based rolling.
	SegmentMs time.Duration
	// RetentionMs (retention.ms): EnforceRetention deletes segments
	// whose newest timestamp is older than this. Negative means no
	// time limit.
	RetentionMs time.Duration
	// RetentionBytes (retention.bytes): EnforceRetention deletes the
	// oldest segments while the log without them stays at least this
	// large. Negative means no size limit.
	RetentionBytes int64
	// IndexIntervalBytes (index.interval.bytes): an offset index entry
	// (and a time index entry when the max timestamp grew) is added after
	// at least this many bytes of batches. Zero indexes every batch.
	IndexIntervalBytes int
	// Flush is the flush policy; FlushInterval is its period.
	Flush         FlushPolicy
	FlushInterval time.Duration
}

// DefaultConfig returns Kafka's defaults: 1 GiB segments rolled weekly,
// seven days of retention with no size limit, an index entry every 4 KiB,
// and no fsync.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * time.Hour,
		RetentionMs:        7 * 24 * time.Hour,
		RetentionBytes:     -1,
		IndexIntervalBytes: 4096,
		Flush:              FlushNone,
		FlushInterval:      time.Second,
	}
}

// Validate reports the first invalid field as an ErrInvalidConfig error.
func (c *Config) Validate() error {
	switch {
	case c.SegmentBytes < MinSegmentBytes || c.SegmentBytes > math.MaxInt32:
		return fmt.Errorf("%w: segment bytes %d outside [%d, %d]", ErrInvalidConfig, c.SegmentBytes, MinSegmentBytes, math.MaxInt32)
	case c.SegmentMs < 0:
		return fmt.Errorf("%w: negative segment ms %v", ErrInvalidConfig, c.SegmentMs)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("%w: negative index interval bytes %d", ErrInvalidConfig, c.IndexIntervalBytes)
	case c.Flush < FlushNone || c.Flush > FlushInterval:
		return fmt.Errorf("%w: unknown flush policy %d", ErrInvalidConfig, int(c.Flush))
	case c.Flush == FlushInterval && c.FlushInterval <= 0:
		return fmt.Errorf("%w: flush interval %v must be positive with the interval policy", ErrInvalidConfig, c.FlushInterval)
	}
	return nil
}

// Options are the dependencies of a Log that are not configuration.
type Options struct {
	// Logger receives recovery and background-error messages; nil
	// discards them. Nothing is logged per append or read.
	Logger *slog.Logger
	// Now is the clock for LogAppendTime, time-based rolling and
	// retention; nil means time.Now.
	Now func() time.Time
	// TruncateOnCorruption makes Open repair damage it would otherwise
	// refuse (ErrCorruptLog) by truncating the log at the first corrupt
	// batch and deleting everything after it. It drops data: use it to
	// bring a damaged replica back, which then refetches from the leader.
	TruncateOnCorruption bool
}
