package partition

import (
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/topicconfig"
)

// Defaults of Config, Kafka's broker defaults where Kafka has one.
const (
	// DefaultRetentionCheckInterval is log.retention.check.interval.ms.
	DefaultRetentionCheckInterval = 5 * time.Minute
	// DefaultCompactionCheckInterval is log.cleaner.backoff.ms.
	DefaultCompactionCheckInterval = 15 * time.Second
	// DefaultMaxFetchBytes is fetch.max.bytes: the most a Fetch response
	// carries, whatever the client asks for.
	DefaultMaxFetchBytes = 55 << 20
	// DefaultProducerIDBlockSize is how many producer ids one
	// AllocateProducerIDs call reserves (Kafka's block size).
	DefaultProducerIDBlockSize = 1000
	// DefaultProducerIDExpiration is producer.id.expiration.ms: a
	// producer whose last batch is this old is forgotten.
	DefaultProducerIDExpiration = 24 * time.Hour
)

// Config configures a Manager.
type Config struct {
	// DataDir holds one directory per hosted partition,
	// <topic>-<partition>. Required.
	DataDir string
	// TopicDefaults are the broker-level defaults of the topic configs
	// (retention.ms, retention.bytes, segment.bytes, segment.ms,
	// max.message.bytes, message.timestamp.type, min.insync.replicas):
	// the values DescribeConfigs reports (protocol.Config.TopicDefaults).
	// A topic's own configs override them.
	TopicDefaults topicconfig.Values
	// Log gives the log settings that are not topic configs: the flush
	// policy and interval, and the index interval. Its segment and
	// retention fields are ignored: they come from TopicDefaults and the
	// topic's configs.
	Log commitlog.Config
	// RetentionCheckInterval is how often retention is enforced, idle
	// producers are expired and high watermarks are checkpointed.
	RetentionCheckInterval time.Duration
	// CompactionCheckInterval is how often the cleaner looks at the
	// compacted topics' partitions (Kafka's log.cleaner.backoff.ms); a
	// pass runs on a partition only when its dirty ratio or lags say so.
	CompactionCheckInterval time.Duration
	// MaxFetchBytes caps a Fetch response (fetch.max.bytes) and every
	// partition's share of it.
	MaxFetchBytes int
	// ProducerIDBlockSize is how many producer ids are reserved from the
	// metadata backend at a time.
	ProducerIDBlockSize int
	// ProducerIDExpiration is producer.id.expiration.ms.
	ProducerIDExpiration time.Duration
}

// DefaultConfig returns a Config with every default filled in except
// DataDir.
func DefaultConfig() Config {
	return Config{
		TopicDefaults:           topicconfig.Defaults(),
		Log:                     commitlog.DefaultConfig(),
		RetentionCheckInterval:  DefaultRetentionCheckInterval,
		CompactionCheckInterval: DefaultCompactionCheckInterval,
		MaxFetchBytes:           DefaultMaxFetchBytes,
		ProducerIDBlockSize:     DefaultProducerIDBlockSize,
		ProducerIDExpiration:    DefaultProducerIDExpiration,
	}
}

// Validate reports the first invalid field as an ErrInvalidConfig error.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.DataDir == "":
		return bad("no data directory")
	case c.RetentionCheckInterval <= 0:
		return bad("retention check interval %v must be positive", c.RetentionCheckInterval)
	case c.CompactionCheckInterval <= 0:
		return bad("compaction check interval %v must be positive", c.CompactionCheckInterval)
	case c.MaxFetchBytes <= 0:
		return bad("max fetch bytes %d must be positive", c.MaxFetchBytes)
	case c.ProducerIDBlockSize <= 0:
		return bad("producer id block size %d must be positive", c.ProducerIDBlockSize)
	case c.ProducerIDExpiration <= 0:
		return bad("producer id expiration %v must be positive", c.ProducerIDExpiration)
	}
	if err := topicconfig.Validate(c.TopicDefaults.Strings()); err != nil {
		return fmt.Errorf("%w: topic defaults: %w", ErrInvalidConfig, err)
	}
	d := c.Resolve(c.TopicDefaults)
	if err := d.Log.Validate(); err != nil {
		return fmt.Errorf("%w: log: %w", ErrInvalidConfig, err)
	}
	if _, err := filepath.Abs(c.DataDir); err != nil {
		return bad("data directory %q: %v", c.DataDir, err)
	}
	return nil
}

// TopicConfig is the effective configuration of a topic's partitions.
type TopicConfig struct {
	// Log is the log configuration (SetConfig).
	Log commitlog.Config
	// MaxMessageBytes is max.message.bytes.
	MaxMessageBytes int
	// LogAppendTime is message.timestamp.type=LogAppendTime.
	LogAppendTime bool
	// MinInsyncReplicas is min.insync.replicas.
	MinInsyncReplicas int
	// Compact is cleanup.policy with compact: the log is compacted by
	// the Manager's cleaner and produced records must have keys.
	// Without delete in the policy there is no time or size retention.
	Compact bool
	// Compaction holds the options of the compaction passes (Compact
	// only; HighWatermark is filled in at each pass).
	Compaction commitlog.CompactOptions
}

// Resolve turns resolved topic config values (topicconfig.Resolve over
// TopicDefaults) into the partitions' configuration: the log settings of
// Log with the segment and retention values of v. segment.bytes is raised
// to commitlog.MinSegmentBytes (Kafka allows 14); max.message.bytes=0,
// which Kafka takes as "refuse every batch", becomes 1, which does the
// same.
func (c *Config) Resolve(v topicconfig.Values) TopicConfig {
	lc := c.Log
	lc.SegmentBytes = max(int64(v.SegmentBytes), commitlog.MinSegmentBytes)
	// Compacted topics roll at max.compaction.lag.ms at the latest, so
	// that the active segment's records become cleanable (Kafka's rule).
	lc.SegmentMs = msDuration(v.EffectiveSegmentMs())
	lc.RetentionMs = msDuration(v.RetentionMs)
	lc.RetentionBytes = v.RetentionBytes
	if lc.RetentionBytes < 0 {
		lc.RetentionBytes = -1
	}
	if !v.CleanupDelete {
		lc.RetentionMs, lc.RetentionBytes = -1, -1
	}
	tc := TopicConfig{
		Log:               lc,
		MaxMessageBytes:   max(int(v.MaxMessageBytes), 1),
		LogAppendTime:     v.LogAppendTime,
		MinInsyncReplicas: max(int(v.MinInsyncReplicas), 1),
		Compact:           v.CleanupCompact,
	}
	if tc.Compact {
		tc.Compaction = commitlog.CompactOptions{
			MinCleanableDirtyRatio: v.MinCleanableDirtyRatio,
			DeleteRetention:        msDuration(v.DeleteRetentionMs),
			MinCompactionLag:       msDuration(v.MinCompactionLagMs),
		}
		if v.MaxCompactionLagMs != math.MaxInt64 {
			tc.Compaction.MaxCompactionLag = msDuration(v.MaxCompactionLagMs)
		}
	}
	return tc
}

// msDuration converts milliseconds to a Duration, saturating.
func msDuration(ms int64) time.Duration {
	if ms < 0 {
		return time.Duration(ms) * time.Millisecond
	}
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}
