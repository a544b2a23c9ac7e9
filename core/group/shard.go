package group

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// shard is the coordinator of the groups of one partition of the offsets
// topic, for one leader epoch of it.
type shard struct {
	c       *Coordinator
	index   int32
	epoch   int32
	topicID metadata.TopicID
	p       *partition.Partition

	loading atomic.Bool

	mu       sync.Mutex
	groups   map[string]*group
	unloaded bool
}

func newShard(c *Coordinator, index, epoch int32, topicID metadata.TopicID, p *partition.Partition) *shard {
	s := &shard{c: c, index: index, epoch: epoch, topicID: topicID, p: p, groups: map[string]*group{}}
	s.loading.Store(true)
	return s
}

func (s *shard) numGroups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.groups)
}

// load reads the partition from its log start to its high watermark and
// rebuilds the groups: the last record of each key wins, a tombstone
// removes its key. Groups with members come back Stable at their
// generation, each member with a fresh session timer; the others Empty.
func (s *shard) load(ctx context.Context) error {
	type loadedGroup struct {
		meta    *kmsg.GroupMetadataValue
		offsets map[topicPartition]committed
	}
	loaded := map[string]*loadedGroup{}
	get := func(id string) *loadedGroup {
		g := loaded[id]
		if g == nil {
			g = &loadedGroup{offsets: map[topicPartition]committed{}}
			loaded[id] = g
		}
		return g
	}
	apply := func(r record) {
		switch {
		case r.offKey != nil:
			g := get(r.offKey.Group)
			tp := topicPartition{r.offKey.Topic, r.offKey.Partition}
			if r.offVal == nil {
				delete(g.offsets, tp)
				return
			}
			v := r.offVal
			expire := int64(-1)
			if v.Version == 1 {
				expire = v.ExpireTimestamp
			}
			epoch := int32(-1)
			if v.Version >= 3 {
				epoch = v.LeaderEpoch
			}
			g.offsets[tp] = committed{offset: v.Offset, leaderEpoch: epoch, metadata: v.Metadata,
				commitTime: v.CommitTimestamp, expireTime: expire, logOffset: r.offset}
		case r.groupKey != nil:
			get(r.groupKey.Group).meta = r.groupVal
		}
	}

	buf := make([]byte, 0, s.c.cfg.LoadBufferSize)
	off := s.p.LogStartOffset()
	bad := 0
	for off < s.p.HighWatermark() {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := s.p.Fetch(buf[:0], partition.FetchParams{
			Offset: off, MaxBytes: s.c.cfg.LoadBufferSize, MinOneMessage: true,
			CurrentLeaderEpoch: s.epoch, LastFetchedEpoch: partition.NoEpoch, ReplicaID: partition.ConsumerReplicaID,
		})
		if err != nil {
			return fmt.Errorf("group: reading %s-%d at offset %d: %w", OffsetsTopic, s.index, off, err)
		}
		next, nbad, err := decodeBatches(res.Records, off, apply)
		bad += nbad
		if err != nil {
			return fmt.Errorf("group: reading %s-%d at offset %d: %w", OffsetsTopic, s.index, off, err)
		}
		if next <= off {
			break // nothing more below the high watermark
		}
		off = next
		buf = res.Records
	}
	if bad > 0 {
		s.c.log.Warn("skipped records of the offsets topic that do not decode", "partition", s.index, "records", bad)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for id, lg := range loaded {
		if lg.meta == nil && len(lg.offsets) == 0 {
			continue
		}
		g := newGroup(s, id)
		g.offsets = lg.offsets
		if m := lg.meta; m != nil {
			g.restore(m)
		}
		s.groups[id] = g
	}
	s.loading.Store(false)
	return nil
}

// unload drops every group: timers stop and waiting requests are answered
// NOT_COORDINATOR. Idempotent.
func (s *shard) unload() {
	s.mu.Lock()
	groups := s.groups
	s.groups = map[string]*group{}
	s.unloaded = true
	s.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.shutdown(kerr.NotCoordinator)
		g.mu.Unlock()
	}
}

// get returns the group, creating it (Empty) if create is set; nil if it
// does not exist (or the shard was unloaded).
func (s *shard) get(id string, create bool) *group {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unloaded {
		return nil
	}
	g := s.groups[id]
	if g == nil && create {
		g = newGroup(s, id)
		s.groups[id] = g
	}
	return g
}

// remove drops g from the shard if it is still the group of its id.
func (s *shard) remove(g *group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[g.id] == g {
		delete(s.groups, g.id)
	}
}

// all returns the shard's groups.
func (s *shard) all() []*group {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*group, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	return out
}

// appendRecords appends recs as one batch (acks=all). The caller waits
// for it with await, without holding locks.
func (s *shard) appendRecords(recs []kv) (partition.ProduceResult, *kerr.Error) {
	res, err := s.p.Append(encodeBatch(recs, s.c.now().UnixMilli()), -1)
	if err != nil {
		s.c.log.Debug("offsets topic append failed", "partition", s.index, "error", err)
		return res, writeError(err)
	}
	return res, nil
}

// await waits until res is below the high watermark, bounded by
// CommitTimeout.
func (s *shard) await(ctx context.Context, res partition.ProduceResult) *kerr.Error {
	ctx, cancel := context.WithTimeout(ctx, s.c.cfg.CommitTimeout)
	defer cancel()
	if err := s.p.WaitAcked(ctx, res); err != nil {
		s.c.log.Debug("offsets topic write not acknowledged", "partition", s.index, "error", err)
		return writeError(err)
	}
	return nil
}

// writeError is Kafka's mapping of a failed coordinator write.
func writeError(err error) *kerr.Error {
	switch {
	case errors.Is(err, partition.ErrNotLeader), errors.Is(err, commitlog.ErrClosed):
		return kerr.NotCoordinator
	case errors.Is(err, partition.ErrNotEnoughReplicas), errors.Is(err, partition.ErrNotEnoughReplicasAfterAppend),
		errors.Is(err, partition.ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.CoordinatorNotAvailable
	case errors.Is(err, commitlog.ErrBatchTooLarge):
		return kerr.InvalidCommitOffsetSize
	}
	return kerr.UnknownServerError
}

// expire removes offsets past retention and groups left with nothing.
func (s *shard) expire() {
	now := s.c.now()
	for _, g := range s.all() {
		g.mu.Lock()
		g.expire(now)
		g.mu.Unlock()
	}
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) int64 { return d.Milliseconds() }
