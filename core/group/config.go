package group

import (
	"errors"
	"fmt"
	"time"
)

// OffsetsTopic is the internal topic holding committed offsets and group
// metadata, named as in Kafka so that tools recognise it.
const OffsetsTopic = "__consumer_offsets"

// DefaultOffsetsTopicReplicationFactor is Kafka's
// offsets.topic.replication.factor, the most an OffsetsTopicReplicationFactor
// of 0 gives.
const DefaultOffsetsTopicReplicationFactor = 3

// Config configures a Coordinator. Every field has Kafka's broker config
// name beside it; DefaultConfig gives Kafka's defaults except where noted.
type Config struct {
	// OffsetsTopicPartitions is the partition count the offsets topic is
	// created with (offsets.topic.num.partitions). It can never change
	// afterwards: a group's coordinator is hash(group) mod this count. Once
	// the topic exists its real partition count is used, whatever this is.
	// Default 50, as in Kafka (see DefaultConfig).
	OffsetsTopicPartitions int32
	// OffsetsTopicReplicationFactor is the replication factor the offsets
	// topic is created with (offsets.topic.replication.factor). 0, the
	// default, means min(DefaultOffsetsTopicReplicationFactor, live
	// brokers when the topic is created): Kafka's 3 where there are three
	// brokers, and a smaller cluster still gets its offsets topic (Kafka
	// refuses). A positive value is used as set: creation fails, and
	// FindCoordinator answers COORDINATOR_NOT_AVAILABLE, while fewer brokers
	// are alive, as in Kafka.
	OffsetsTopicReplicationFactor int16
	// OffsetsTopicSegmentBytes is the offsets topic's segment.bytes
	// (offsets.topic.segment.bytes). Default 100 MiB.
	OffsetsTopicSegmentBytes int32
	// InitialRebalanceDelay is how long the first rebalance of an empty
	// group waits for more members (group.initial.rebalance.delay.ms),
	// extended by the same delay for each member joining meanwhile, up to
	// the rebalance timeout. 0 starts at once. Default 3s.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound the session timeouts
	// members may ask for (group.min.session.timeout.ms,
	// group.max.session.timeout.ms). Defaults 6s and 30min.
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// MaxGroupSize caps the members of one group (group.max.size); 0 means
	// no limit (Kafka: Integer.MAX_VALUE).
	MaxGroupSize int
	// OffsetsRetention is how long committed offsets of a group without
	// members are kept (offsets.retention.minutes): from the moment the
	// group became empty, or, for groups that never had members (simple
	// commits), from each commit. Default 7 days.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is how often expired offsets are
	// removed (offsets.retention.check.interval.ms). Default 10min.
	OffsetsRetentionCheckInterval time.Duration
	// CommitTimeout bounds the wait for an offset commit or group write to
	// be replicated (offsets.commit.timeout.ms). Default 5s.
	CommitTimeout time.Duration
	// MaxMetadataSize is the largest metadata string of an offset commit
	// (offset.metadata.max.bytes). Default 4096.
	MaxMetadataSize int
	// LoadBufferSize is the read size while loading a partition of the
	// offsets topic (offsets.load.buffer.size). Default 5 MiB.
	LoadBufferSize int
	// RetryInterval is how often a partition of the offsets topic that
	// could not be loaded yet (its replica not opened) is tried again, and
	// the offsets topic's creation retried. Default 500ms.
	RetryInterval time.Duration
}

// DefaultConfig returns Kafka's defaults, with the offsets topic's
// replication factor adapted to the live brokers (0: min(3, live)).
//
// The partition count stays Kafka's 50 although clusters here are small:
// the count is fixed for the life of the cluster (every group's coordinator
// is hash mod count), so it bounds how far coordination can ever spread
// when brokers are added, while the cost on a small cluster is 50 small
// logs of a few files each, opened once. An operator of a cluster that
// will stay at one or three brokers can set fewer before first start.
func DefaultConfig() Config {
	return Config{
		OffsetsTopicPartitions:        50,
		OffsetsTopicReplicationFactor: 0,
		OffsetsTopicSegmentBytes:      100 << 20,
		InitialRebalanceDelay:         3 * time.Second,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		CommitTimeout:                 5 * time.Second,
		MaxMetadataSize:               4096,
		LoadBufferSize:                5 << 20,
		RetryInterval:                 500 * time.Millisecond,
	}
}

// Validate reports every problem of c at once, each wrapping
// ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	if c.OffsetsTopicPartitions < 1 {
		bad("offsets topic partitions %d: must be >= 1", c.OffsetsTopicPartitions)
	}
	if c.OffsetsTopicReplicationFactor < 0 {
		bad("offsets topic replication factor %d: must be >= 0 (0: min(3, live brokers))", c.OffsetsTopicReplicationFactor)
	}
	if c.OffsetsTopicSegmentBytes < 1<<14 {
		bad("offsets topic segment bytes %d: must be >= 16384", c.OffsetsTopicSegmentBytes)
	}
	if c.InitialRebalanceDelay < 0 {
		bad("initial rebalance delay %v: must be >= 0", c.InitialRebalanceDelay)
	}
	if c.MinSessionTimeout <= 0 || c.MaxSessionTimeout < c.MinSessionTimeout {
		bad("session timeout bounds [%v, %v]: need 0 < min <= max", c.MinSessionTimeout, c.MaxSessionTimeout)
	}
	if c.MaxGroupSize < 0 {
		bad("max group size %d: must be >= 0", c.MaxGroupSize)
	}
	if c.OffsetsRetention <= 0 {
		bad("offsets retention %v: must be > 0", c.OffsetsRetention)
	}
	if c.OffsetsRetentionCheckInterval <= 0 {
		bad("offsets retention check interval %v: must be > 0", c.OffsetsRetentionCheckInterval)
	}
	if c.CommitTimeout <= 0 {
		bad("commit timeout %v: must be > 0", c.CommitTimeout)
	}
	if c.MaxMetadataSize < 0 {
		bad("max metadata size %d: must be >= 0", c.MaxMetadataSize)
	}
	if c.LoadBufferSize < 1024 {
		bad("load buffer size %d: must be >= 1024", c.LoadBufferSize)
	}
	if c.RetryInterval <= 0 {
		bad("retry interval %v: must be > 0", c.RetryInterval)
	}
	return errors.Join(errs...)
}
