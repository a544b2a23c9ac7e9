package partition

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chronik-go/chronik/core/commitlog"
)

// Defaults of Config, as Kafka's broker defaults where Kafka has one.
const (
	// DefaultMaxMessageBytes is Kafka's message.max.bytes (1 MiB plus
	// the batch overhead).
	DefaultMaxMessageBytes = 1048588
	// DefaultRetentionCheckInterval is log.retention.check.interval.ms.
	DefaultRetentionCheckInterval = 5 * time.Minute
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

// Config configures a Manager. Log, MaxMessageBytes, LogAppendTime and
// MinInsyncReplicas are the broker-level defaults of the topic configs
// (Kafka's log.* broker settings); a topic's own configs override them.
type Config struct {
	// DataDir holds one directory per hosted partition,
	// <topic>-<partition>. Required.
	DataDir string
	// Log is the default log configuration: segment.bytes, segment.ms,
	// retention.ms, retention.bytes, index.interval.bytes and the flush
	// policy.
	Log commitlog.Config
	// MaxMessageBytes is the default max.message.bytes: the largest
	// record batch accepted.
	MaxMessageBytes int
	// LogAppendTime is the default message.timestamp.type: true for
	// LogAppendTime, false for CreateTime.
	LogAppendTime bool
	// MinInsyncReplicas is the default min.insync.replicas (>= 1).
	MinInsyncReplicas int
	// RetentionCheckInterval is how often retention is enforced and idle
	// producers are expired.
	RetentionCheckInterval time.Duration
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
		Log:                    commitlog.DefaultConfig(),
		MaxMessageBytes:        DefaultMaxMessageBytes,
		MinInsyncReplicas:      1,
		RetentionCheckInterval: DefaultRetentionCheckInterval,
		MaxFetchBytes:          DefaultMaxFetchBytes,
		ProducerIDBlockSize:    DefaultProducerIDBlockSize,
		ProducerIDExpiration:   DefaultProducerIDExpiration,
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
	case c.MaxMessageBytes <= 0:
		return bad("max message bytes %d must be positive", c.MaxMessageBytes)
	case c.MinInsyncReplicas < 1:
		return bad("min insync replicas %d must be at least 1", c.MinInsyncReplicas)
	case c.RetentionCheckInterval <= 0:
		return bad("retention check interval %v must be positive", c.RetentionCheckInterval)
	case c.MaxFetchBytes <= 0:
		return bad("max fetch bytes %d must be positive", c.MaxFetchBytes)
	case c.ProducerIDBlockSize <= 0:
		return bad("producer id block size %d must be positive", c.ProducerIDBlockSize)
	case c.ProducerIDExpiration <= 0:
		return bad("producer id expiration %v must be positive", c.ProducerIDExpiration)
	}
	if err := c.Log.Validate(); err != nil {
		return fmt.Errorf("%w: log: %w", ErrInvalidConfig, err)
	}
	if _, err := filepath.Abs(c.DataDir); err != nil {
		return bad("data directory %q: %v", c.DataDir, err)
	}
	return nil
}

// Topic config names this package implements (Kafka's names).
const (
	ConfigRetentionMs          = "retention.ms"
	ConfigRetentionBytes       = "retention.bytes"
	ConfigSegmentBytes         = "segment.bytes"
	ConfigSegmentMs            = "segment.ms"
	ConfigIndexIntervalBytes   = "index.interval.bytes"
	ConfigMaxMessageBytes      = "max.message.bytes"
	ConfigMessageTimestampType = "message.timestamp.type"
	ConfigMinInsyncReplicas    = "min.insync.replicas"
	ConfigCleanupPolicy        = "cleanup.policy"
)

// TopicConfigNames lists the topic configs that take effect, in a stable
// order.
var TopicConfigNames = []string{
	ConfigCleanupPolicy,
	ConfigIndexIntervalBytes,
	ConfigMaxMessageBytes,
	ConfigMessageTimestampType,
	ConfigMinInsyncReplicas,
	ConfigRetentionBytes,
	ConfigRetentionMs,
	ConfigSegmentBytes,
	ConfigSegmentMs,
}

// TopicConfig is the effective configuration of a topic's partitions: the
// Manager's defaults overridden by the topic's configs.
type TopicConfig struct {
	// Log is the log configuration (SetConfig).
	Log commitlog.Config
	// MaxMessageBytes is max.message.bytes.
	MaxMessageBytes int
	// LogAppendTime is message.timestamp.type=LogAppendTime.
	LogAppendTime bool
	// MinInsyncReplicas is min.insync.replicas.
	MinInsyncReplicas int
}

// Defaults returns the topic configuration of a topic without configs of
// its own.
func (c *Config) Defaults() TopicConfig {
	return TopicConfig{
		Log:               c.Log,
		MaxMessageBytes:   c.MaxMessageBytes,
		LogAppendTime:     c.LogAppendTime,
		MinInsyncReplicas: c.MinInsyncReplicas,
	}
}

// Strings returns the configuration as Kafka topic config values, keyed by
// the names in TopicConfigNames (for DescribeConfigs).
func (t TopicConfig) Strings() map[string]string {
	ts := "CreateTime"
	if t.LogAppendTime {
		ts = "LogAppendTime"
	}
	retMs := int64(-1)
	if t.Log.RetentionMs >= 0 {
		retMs = t.Log.RetentionMs.Milliseconds()
	}
	return map[string]string{
		ConfigCleanupPolicy:        "delete",
		ConfigIndexIntervalBytes:   strconv.Itoa(t.Log.IndexIntervalBytes),
		ConfigMaxMessageBytes:      strconv.Itoa(t.MaxMessageBytes),
		ConfigMessageTimestampType: ts,
		ConfigMinInsyncReplicas:    strconv.Itoa(t.MinInsyncReplicas),
		ConfigRetentionBytes:       strconv.FormatInt(t.Log.RetentionBytes, 10),
		ConfigRetentionMs:          strconv.FormatInt(retMs, 10),
		ConfigSegmentBytes:         strconv.FormatInt(t.Log.SegmentBytes, 10),
		ConfigSegmentMs:            strconv.FormatInt(t.Log.SegmentMs.Milliseconds(), 10),
	}
}

// ValidateTopicConfig checks one topic config as Kafka's validators do. It
// returns nil for a valid value and for names this package does not
// implement (the caller decides about those); ErrUnsupportedConfig for
// cleanup.policy with compact (log compaction is not implemented);
// ErrInvalidConfig for a value that does not parse or is out of range.
// Admin requests (CreateTopics, AlterConfigs) call it before storing
// configs, so that a bad value is refused up front rather than ignored
// later.
func ValidateTopicConfig(name, value string) error {
	var t TopicConfig
	t.Log = commitlog.DefaultConfig()
	return applyTopicConfig(&t, name, value)
}

// ParseTopicConfigs returns defaults overridden by configs. Every invalid
// value is skipped (the default stays) and reported in the joined error,
// which wraps ErrInvalidConfig or ErrUnsupportedConfig; the returned
// TopicConfig is usable either way.
func ParseTopicConfigs(defaults TopicConfig, configs map[string]string) (TopicConfig, error) {
	t := defaults
	var errs []error
	for _, name := range TopicConfigNames {
		value, ok := configs[name]
		if !ok {
			continue
		}
		next := t
		if err := applyTopicConfig(&next, name, value); err != nil {
			errs = append(errs, err)
			continue
		}
		t = next
	}
	if err := t.Log.Validate(); err != nil {
		// Unreachable when each value validated, kept as a guard.
		return defaults, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return t, errors.Join(errs...)
}

// applyTopicConfig parses one config into t.
func applyTopicConfig(t *TopicConfig, name, value string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: %s=%q: %s", ErrInvalidConfig, name, value, why)
	}
	parseInt := func(lo, hi int64) (int64, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return 0, bad("not an integer")
		}
		if n < lo || n > hi {
			return 0, bad(fmt.Sprintf("must be in [%d, %d]", lo, hi))
		}
		return n, nil
	}
	switch name {
	case ConfigRetentionMs:
		n, err := parseInt(-1, math.MaxInt64)
		if err != nil {
			return err
		}
		t.Log.RetentionMs = msDuration(n)
	case ConfigRetentionBytes:
		n, err := parseInt(math.MinInt64, math.MaxInt64)
		if err != nil {
			return err
		}
		if n < 0 {
			n = -1
		}
		t.Log.RetentionBytes = n
	case ConfigSegmentBytes:
		n, err := parseInt(commitlog.MinSegmentBytes, math.MaxInt32)
		if err != nil {
			return err
		}
		t.Log.SegmentBytes = n
	case ConfigSegmentMs:
		n, err := parseInt(1, math.MaxInt64)
		if err != nil {
			return err
		}
		t.Log.SegmentMs = msDuration(n)
	case ConfigIndexIntervalBytes:
		n, err := parseInt(0, math.MaxInt32)
		if err != nil {
			return err
		}
		t.Log.IndexIntervalBytes = int(n)
	case ConfigMaxMessageBytes:
		n, err := parseInt(0, math.MaxInt32)
		if err != nil {
			return err
		}
		if n == 0 {
			// Kafka accepts 0; it refuses every batch.
			n = 1
		}
		t.MaxMessageBytes = int(n)
	case ConfigMessageTimestampType:
		switch strings.TrimSpace(value) {
		case "CreateTime":
			t.LogAppendTime = false
		case "LogAppendTime":
			t.LogAppendTime = true
		default:
			return bad("must be CreateTime or LogAppendTime")
		}
	case ConfigMinInsyncReplicas:
		n, err := parseInt(1, math.MaxInt32)
		if err != nil {
			return err
		}
		t.MinInsyncReplicas = int(n)
	case ConfigCleanupPolicy:
		for p := range strings.SplitSeq(value, ",") {
			switch strings.TrimSpace(p) {
			case "delete":
			case "compact":
				return fmt.Errorf("%w: %s=%q: log compaction is not supported; use cleanup.policy=delete", ErrUnsupportedConfig, name, value)
			default:
				return bad("must be delete (compact is not supported)")
			}
		}
	}
	return nil
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
