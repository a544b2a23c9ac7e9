package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Cluster is what the Coordinator needs of the broker's *cluster.Cluster:
// its id, the watch-fed image with its change channel, and topic creation
// (for the offsets topic only).
type Cluster interface {
	// BrokerID is this broker's id.
	BrokerID() int32
	// Current returns the latest Image (nil before the first) and a
	// channel closed when a newer one replaces it.
	Current() (img *cluster.Image, changed <-chan struct{})
	// CreateTopic creates a topic through the metadata backend and returns
	// once this broker's image has it; cluster.ErrTopicExists if it exists.
	CreateTopic(ctx context.Context, name string, numPartitions int32, replicationFactor int16, assignment map[int32][]int32, configs map[string]string) (metadata.Topic, error)
}

var _ Cluster = (*cluster.Cluster)(nil)

// Partitions is what the Coordinator needs of the broker's
// *partition.Manager: the hosted replicas of the offsets topic.
type Partitions interface {
	// Partition returns the hosted replica, if opened.
	Partition(topic string, index int32) (*partition.Partition, bool)
	// WaitRevision waits until the Manager applied an image at rev or
	// later.
	WaitRevision(ctx context.Context, rev metadata.Revision) error
}

var _ Partitions = (*partition.Manager)(nil)

// Coordinator is the group coordinator of one broker. For every partition
// of the offsets topic this broker leads it holds a shard: the groups
// whose id hashes to that partition, loaded from the partition's log when
// the leadership begins (COORDINATOR_LOAD_IN_PROGRESS meanwhile) and
// dropped when it ends (NOT_COORDINATOR afterwards). Group state changes
// and offset commits are appended to that log and answered once they are
// below its high watermark.
//
// Lifecycle: New, Start, Close. Start runs one goroutine owned by the
// Coordinator, which follows the metadata image (leadership changes,
// loading) and expires offsets every OffsetsRetentionCheckInterval; the
// creation of the offsets topic runs on a second one when first needed.
// Timers (sessions, rebalances) are time.AfterFunc timers that Close stops;
// a firing timer that races Close finds it closed and does nothing. Every
// request method is safe for concurrent use.
//
// Lock order: Coordinator.lifeMu (read-held by timer callbacks), then
// group.mu, then shard.mu; Coordinator.mu is a leaf. No lock is held
// while waiting for a write to be replicated.
type Coordinator struct {
	cfg   Config
	cl    Cluster
	parts Partitions
	log   *slog.Logger
	self  int32
	now   func() time.Time

	mu     sync.RWMutex
	shards map[int32]*shard // by offsets topic partition; only led ones
	// creating is true while the offsets topic's creation runs.
	creating bool

	lifeMu  sync.RWMutex
	started bool
	closed  bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Coordinator for the broker cl names, over its partition
// replicas. logger nil discards logs. Nothing runs until Start.
func New(cfg Config, cl Cluster, parts Partitions, logger *slog.Logger) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cl == nil || parts == nil {
		return nil, fmt.Errorf("%w: nil cluster or partitions", ErrInvalidConfig)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{cfg: cfg, cl: cl, parts: parts, log: logger, self: cl.BrokerID(), now: time.Now, shards: map[int32]*shard{}}
	// The Coordinator lives until Close; nothing else roots its context.
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Config returns the Coordinator's configuration.
func (c *Coordinator) Config() Config { return c.cfg }

// Start starts following the metadata image. It returns at once. It is
// idempotent; after Close it returns ErrClosed.
func (c *Coordinator) Start() error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.started {
		return nil
	}
	c.started = true
	c.wg.Add(1)
	go c.run()
	return nil
}

// Close stops the Coordinator: its goroutines end, every timer stops, and
// requests waiting for a rebalance are answered NOT_COORDINATOR. Writes
// already appended stay in the log. Idempotent.
func (c *Coordinator) Close() error {
	c.lifeMu.Lock()
	if c.closed {
		c.lifeMu.Unlock()
		return nil
	}
	c.closed = true
	c.lifeMu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	shards := c.shards
	c.shards = map[int32]*shard{}
	c.mu.Unlock()
	for _, s := range shards {
		s.unload()
	}
	return nil
}

// enter is called by timer callbacks: false once Close began. When true,
// the caller must call c.exit when done.
func (c *Coordinator) enter() bool {
	c.lifeMu.RLock()
	if c.closed {
		c.lifeMu.RUnlock()
		return false
	}
	return true
}

func (c *Coordinator) exit() { c.lifeMu.RUnlock() }

// afterFunc is time.AfterFunc for the coordinator's timers: f runs with
// the Coordinator entered, never after Close.
func (c *Coordinator) afterFunc(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() {
		if !c.enter() {
			return
		}
		defer c.exit()
		f()
	})
}

// PartitionFor returns the partition of a topic of n partitions that
// coordinates groupID: abs(Java String.hashCode(groupID)) mod n, exactly
// as Kafka's GroupMetadataManager.partitionFor (Utils.abs maps MinInt32 to
// 0), so that chronik and Kafka place every group alike. n <= 0 gives 0.
func PartitionFor(groupID string, n int32) int32 {
	if n <= 0 {
		return 0
	}
	var h int32
	for _, u := range utf16.Encode([]rune(groupID)) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}

// Coordinator returns the broker coordinating groupID, from the image:
// the live leader of the group's partition of the offsets topic. When the
// topic does not exist its creation is started (once; concurrent and later
// calls share it) and ErrCoordinatorNotAvailable returned, as it is while
// the partition has no live leader. The leader may still be loading the
// partition; its group requests then answer COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) Coordinator(groupID string) (metadata.Broker, error) {
	img, _ := c.cl.Current()
	if img == nil {
		return metadata.Broker{}, fmt.Errorf("%w: no metadata image yet", ErrCoordinatorNotAvailable)
	}
	t, ok := img.Topic(OffsetsTopic)
	if !ok || len(t.Partitions) == 0 {
		c.ensureTopic()
		return metadata.Broker{}, fmt.Errorf("%w: the offsets topic is being created", ErrCoordinatorNotAvailable)
	}
	p := t.Partitions[PartitionFor(groupID, int32(len(t.Partitions)))]
	b, ok := img.LiveLeader(p)
	if !ok {
		return metadata.Broker{}, fmt.Errorf("%w: partition %d of %s has no live leader", ErrCoordinatorNotAvailable, p.Partition, OffsetsTopic)
	}
	return b, nil
}

// topicConfigs are the offsets topic's configs: cleanup.policy=compact
// (the last record of each key is kept; tombstones remove keys), as in
// Kafka. Should core/topicconfig refuse compact (a build without log
// compaction), the topic is kept forever by time and size instead, so that
// no committed offset is ever lost to retention.
func (c *Coordinator) topicConfigs() map[string]string {
	cfg := map[string]string{topicconfig.SegmentBytes: fmt.Sprint(c.cfg.OffsetsTopicSegmentBytes)}
	if topicconfig.ValidateOne(topicconfig.CleanupPolicy, "compact") == nil {
		cfg[topicconfig.CleanupPolicy] = "compact"
	} else {
		cfg[topicconfig.CleanupPolicy] = topicconfig.CleanupPolicyDelete
		cfg[topicconfig.RetentionMs] = "-1"
		cfg[topicconfig.RetentionBytes] = "-1"
	}
	return cfg
}

// offsetsTopicReplicationFactor is the replication factor to create the
// offsets topic with: Config.OffsetsTopicReplicationFactor when set, else
// min(DefaultOffsetsTopicReplicationFactor, live brokers in the current
// image), at least 1.
func (c *Coordinator) offsetsTopicReplicationFactor() int16 {
	if c.cfg.OffsetsTopicReplicationFactor > 0 {
		return c.cfg.OffsetsTopicReplicationFactor
	}
	live := 0
	if img, _ := c.cl.Current(); img != nil {
		live = len(img.LiveBrokers())
	}
	return int16(max(1, min(DefaultOffsetsTopicReplicationFactor, live)))
}

// ensureTopic starts the offsets topic's creation unless it runs already.
func (c *Coordinator) ensureTopic() {
	if !c.enter() {
		return
	}
	defer c.exit()
	c.mu.Lock()
	if c.creating {
		c.mu.Unlock()
		return
	}
	c.creating = true
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			c.creating = false
			c.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		defer cancel()
		rf := c.offsetsTopicReplicationFactor()
		_, err := c.cl.CreateTopic(ctx, OffsetsTopic, c.cfg.OffsetsTopicPartitions, rf, nil, c.topicConfigs())
		switch {
		case err == nil:
			c.log.Info("offsets topic created", "topic", OffsetsTopic, "partitions", c.cfg.OffsetsTopicPartitions, "replication_factor", rf)
		case errors.Is(err, cluster.ErrTopicExists), c.ctx.Err() != nil:
		default:
			c.log.Warn("creating the offsets topic failed; retried on the next FindCoordinator", "error", err)
		}
	}()
}

// run follows the image: it loads the partitions of the offsets topic this
// broker starts leading and drops those it stops leading; it retries
// partitions whose replica was not ready and expires offsets.
func (c *Coordinator) run() {
	defer c.wg.Done()
	retry := time.NewTicker(c.cfg.RetryInterval)
	defer retry.Stop()
	expire := time.NewTicker(c.cfg.OffsetsRetentionCheckInterval)
	defer expire.Stop()
	var prev *cluster.Image
	pending := false // some led partition is not loaded yet
	for {
		img, changed := c.cl.Current()
		if img != nil && (img != prev || pending) {
			pending = c.reconcile(img)
			prev = img
		}
		select {
		case <-changed:
		case <-retry.C:
		case <-expire.C:
			c.expireOffsets()
		case <-c.ctx.Done():
			return
		}
	}
}

// reconcile brings the shards in line with img; it reports whether some
// led partition could not be loaded yet.
func (c *Coordinator) reconcile(img *cluster.Image) (pending bool) {
	t, ok := img.Topic(OffsetsTopic)
	lead := map[int32]int32{} // partition -> leader epoch
	if ok {
		for _, p := range t.Partitions {
			if p.Leader == c.self && img.IsLive(c.self) {
				lead[p.Partition] = p.LeaderEpoch
			}
		}
	}
	c.mu.Lock()
	var drop []*shard
	for idx, s := range c.shards {
		if epoch, ok := lead[idx]; !ok || epoch != s.epoch || s.topicID != t.ID {
			drop = append(drop, s)
			delete(c.shards, idx)
		}
	}
	c.mu.Unlock()
	for _, s := range drop {
		c.log.Info("no longer coordinating offsets topic partition", "partition", s.index, "leader_epoch", s.epoch)
		s.unload()
	}
	for idx, epoch := range lead {
		c.mu.RLock()
		_, have := c.shards[idx]
		c.mu.RUnlock()
		if have {
			continue
		}
		if !c.load(img, t.ID, idx, epoch) {
			pending = true
		}
	}
	return pending
}

// load opens the shard of partition idx at epoch: published as loading
// first, then filled from the log. It returns false if the replica is not
// ready to lead yet (to be retried).
func (c *Coordinator) load(img *cluster.Image, topicID metadata.TopicID, idx, epoch int32) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RetryInterval)
	err := c.parts.WaitRevision(ctx, img.Revision())
	cancel()
	if err != nil {
		return false
	}
	p, ok := c.parts.Partition(OffsetsTopic, idx)
	if !ok || p.TopicID() != topicID {
		return false
	}
	st := p.State()
	if st.Closed || !st.Leader || st.LeaderEpoch != epoch {
		return false
	}
	// A new leader's high watermark may still be behind what it had when
	// it took over (it learned it from its old leader's last answer): the
	// log below its epoch start offset is committed, but the shard loads
	// only up to the high watermark, so it waits until that covers it (the
	// followers' first fetches move it) and meanwhile answers
	// COORDINATOR_LOAD_IN_PROGRESS.
	if ls, ok := p.LeaderState(); !ok || ls.LeaderEpoch != epoch || ls.HighWatermark < ls.EpochStartOffset {
		return false
	}
	s := newShard(c, idx, epoch, topicID, p)
	c.mu.Lock()
	c.shards[idx] = s
	c.mu.Unlock()
	start := time.Now()
	if err := s.load(c.ctx); err != nil {
		if c.ctx.Err() == nil {
			c.log.Error("loading offsets topic partition failed; retrying", "partition", idx, "leader_epoch", epoch, "error", err)
		}
		c.mu.Lock()
		if c.shards[idx] == s {
			delete(c.shards, idx)
		}
		c.mu.Unlock()
		s.unload()
		return false
	}
	c.log.Info("coordinating offsets topic partition", "partition", idx, "leader_epoch", epoch,
		"groups", s.numGroups(), "took", time.Since(start))
	return true
}

// shardFor returns the loaded shard coordinating groupID, or the Kafka
// error to answer: NOT_COORDINATOR when this broker does not lead the
// group's partition, COORDINATOR_LOAD_IN_PROGRESS while it loads it,
// COORDINATOR_NOT_AVAILABLE before the offsets topic exists.
func (c *Coordinator) shardFor(groupID string) (*shard, *kerr.Error) {
	img, _ := c.cl.Current()
	t, ok := img.Topic(OffsetsTopic)
	if !ok || len(t.Partitions) == 0 {
		return nil, kerr.CoordinatorNotAvailable
	}
	idx := PartitionFor(groupID, int32(len(t.Partitions)))
	c.mu.RLock()
	s := c.shards[idx]
	c.mu.RUnlock()
	if s == nil {
		if p := t.Partitions[idx]; p.Leader == c.self {
			return nil, kerr.CoordinatorLoadInProgress // led, not loaded yet
		}
		return nil, kerr.NotCoordinator
	}
	if s.loading.Load() {
		return nil, kerr.CoordinatorLoadInProgress
	}
	return s, nil
}

// loadedShards returns the loaded shards and whether any partition the
// image names this broker leader of is not loaded yet.
func (c *Coordinator) loadedShards() (out []*shard, loading bool) {
	img, _ := c.cl.Current()
	t, _ := img.Topic(OffsetsTopic)
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, p := range t.Partitions {
		if _, ok := c.shards[p.Partition]; !ok && p.Leader == c.self {
			loading = true
		}
	}
	for _, s := range c.shards {
		if s.loading.Load() {
			loading = true
			continue
		}
		out = append(out, s)
	}
	return out, loading
}

// expireOffsets runs the retention pass over every loaded shard.
func (c *Coordinator) expireOffsets() {
	shards, _ := c.loadedShards()
	for _, s := range shards {
		s.expire()
	}
}
