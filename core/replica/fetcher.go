package replica

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/partition"
)

// Protocol versions a fetcher sends: Fetch v12 (topic names, last fetched
// epoch, DivergingEpoch), OffsetForLeaderEpoch v4 (replica id), ListOffsets
// v7 (replica id, current leader epoch).
const (
	fetchVersion                = 12
	offsetForLeaderEpochVersion = 4
	listOffsetsVersion          = 7
)

// fetcher replicates every partition this broker follows whose leader is
// one broker, over one connection to it: a loop of batched Fetch requests
// (and OffsetForLeaderEpoch before fetching in a new leader epoch). Owned
// by the Manager, which assigns its partitions (assign) and stops it
// (stop).
type fetcher struct {
	m      *Manager
	leader int32
	addr   string
	log    *slog.Logger

	mu    sync.Mutex // guards parts
	parts []*partition.Partition
	wake  chan struct{} // cap 1: the assignment changed

	cancel context.CancelFunc
	done   chan struct{}
}

// fetchState is the fetcher's state of one partition (fetcher goroutine
// only).
type fetchState struct {
	epoch      int32 // leader epoch synced for, -1 before
	synced     bool  // the log was truncated to the leader's at epoch
	delayUntil time.Time
}

// newFetcher starts a fetcher for leader at addr.
func newFetcher(m *Manager, leader int32, addr string) *fetcher {
	ctx, cancel := context.WithCancel(m.ctx)
	f := &fetcher{
		m: m, leader: leader, addr: addr,
		log:    m.log.With("leader", leader, "leader_addr", addr),
		wake:   make(chan struct{}, 1),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go f.run(ctx)
	return f
}

// assign replaces the fetcher's partitions.
func (f *fetcher) assign(parts []*partition.Partition) {
	f.mu.Lock()
	f.parts = parts
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// assigned returns the fetcher's partitions.
func (f *fetcher) assigned() []*partition.Partition {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.parts
}

// stop stops the fetcher and waits for it.
func (f *fetcher) stop() {
	f.cancel()
	<-f.done
}

// item is one partition of a round.
type item struct {
	p  *partition.Partition
	st partition.FollowerState
	fs *fetchState
}

// run is the fetcher's goroutine.
func (f *fetcher) run(ctx context.Context) {
	defer close(f.done)
	cfg := &f.m.cfg
	states := map[*partition.Partition]*fetchState{}
	var c *conn
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	for ctx.Err() == nil {
		if c == nil {
			var err error
			c, err = dial(ctx, f.addr, cfg.ClientID, cfg.RequestTimeout)
			if err != nil {
				f.log.Debug("replica: connecting to leader failed", "error", err)
				f.pause(ctx, cfg.RetryBackoff)
				continue
			}
		}
		now := time.Now()
		var trunc, fetch []item
		next := now.Add(cfg.RetryBackoff)
		seen := map[*partition.Partition]bool{}
		for _, p := range f.assigned() {
			st, ok := p.FollowerState()
			if !ok || st.LeaderID != f.leader {
				continue
			}
			seen[p] = true
			fs := states[p]
			if fs == nil {
				fs = &fetchState{epoch: -1}
				states[p] = fs
			}
			if fs.epoch != st.LeaderEpoch {
				fs.epoch, fs.delayUntil = st.LeaderEpoch, time.Time{}
				fs.synced = cfg.TruncateOnFetchOnly || st.LastFetchedEpoch < 0
			}
			if now.Before(fs.delayUntil) {
				if fs.delayUntil.Before(next) {
					next = fs.delayUntil
				}
				continue
			}
			if fs.synced {
				fetch = append(fetch, item{p, st, fs})
			} else {
				trunc = append(trunc, item{p, st, fs})
			}
		}
		for p := range states {
			if !seen[p] {
				delete(states, p)
			}
		}
		var err error
		switch {
		case len(trunc) > 0:
			err = f.truncate(c, trunc)
		case len(fetch) > 0:
			err = f.fetch(ctx, c, fetch)
		default:
			f.pauseUntil(ctx, next)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				f.log.Debug("replica: request to leader failed; reconnecting", "error", err)
			}
			c.close()
			c = nil
			f.pause(ctx, cfg.RetryBackoff)
		}
	}
}

// pause waits d, or less if the assignment changes or ctx ends.
func (f *fetcher) pause(ctx context.Context, d time.Duration) {
	f.pauseUntil(ctx, time.Now().Add(d))
}

func (f *fetcher) pauseUntil(ctx context.Context, until time.Time) {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-t.C:
	case <-f.wake:
	case <-ctx.Done():
	}
}

// delay makes the fetcher leave a partition alone for a backoff after a
// retriable error.
func (f *fetcher) delay(it item) {
	it.fs.delayUntil = time.Now().Add(f.m.cfg.RetryBackoff)
}

// truncate asks the leader, with OffsetForLeaderEpoch, where each
// partition's last epoch ends, and truncates there (KIP-101/279).
func (f *fetcher) truncate(c *conn, items []item) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = offsetForLeaderEpochVersion
	req.ReplicaID = f.m.brokerID
	byTopic := map[string]int{}
	for _, it := range items {
		i, ok := byTopic[it.p.Topic()]
		if !ok {
			i = len(req.Topics)
			byTopic[it.p.Topic()] = i
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = it.p.Topic()
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition = it.p.Index()
		rp.CurrentLeaderEpoch = it.st.LeaderEpoch
		rp.LeaderEpoch = it.st.LastFetchedEpoch
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	if err := c.request(req, resp, f.m.cfg.RequestTimeout); err != nil {
		return err
	}
	answers := map[string]map[int32]kmsg.OffsetForLeaderEpochResponseTopicPartition{}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			if answers[t.Topic] == nil {
				answers[t.Topic] = map[int32]kmsg.OffsetForLeaderEpochResponseTopicPartition{}
			}
			answers[t.Topic][rp.Partition] = rp
		}
	}
	for _, it := range items {
		rp, ok := answers[it.p.Topic()][it.p.Index()]
		switch {
		case !ok:
			f.delay(it)
		case rp.ErrorCode != 0:
			f.log.Debug("replica: OffsetForLeaderEpoch refused", "topic", it.p.Topic(), "partition", it.p.Index(), "error", kerr.ErrorForCode(rp.ErrorCode))
			f.delay(it)
		default:
			f.reconcile(it, rp.LeaderEpoch, rp.EndOffset, "offset_for_leader_epoch")
		}
	}
	return nil
}

// reconcile truncates a partition given the leader's answer for its last
// fetched epoch (OffsetForLeaderEpoch, or a Fetch's DivergingEpoch):
// leaderEpoch is the largest epoch <= ours the leader knows and leaderEnd
// where it ends in the leader's log. As Kafka's fetcher does: no answer
// (-1 end) truncates to the high watermark; if we know leaderEpoch, the
// log is cut at the smaller of the two ends of it and is in sync; if not,
// it is cut where our largest epoch below it ends, and the leader is asked
// again about that one.
func (f *fetcher) reconcile(it item, leaderEpoch int32, leaderEnd int64, via string) {
	st := it.st
	var to int64
	done := true
	switch {
	case leaderEnd < 0:
		to = st.HighWatermark
	case leaderEpoch < 0:
		to = min(leaderEnd, st.LogEndOffset)
	default:
		localEpoch, localEnd := it.p.EndOffsetForEpochLocal(leaderEpoch)
		switch {
		case localEpoch < 0:
			to = min(leaderEnd, st.LogEndOffset)
		case localEpoch == leaderEpoch:
			to = min(leaderEnd, localEnd)
		default:
			to = min(localEnd, st.LogEndOffset)
			done = to >= st.LogEndOffset // no progress: nothing more to cut
		}
	}
	if to < st.LogEndOffset {
		f.log.Info("replica: truncating a diverging follower log", "topic", it.p.Topic(), "partition", it.p.Index(),
			"log_end_offset", st.LogEndOffset, "truncate_to", to, "last_fetched_epoch", st.LastFetchedEpoch,
			"leader_epoch_answer", leaderEpoch, "leader_end_offset", leaderEnd, "via", via)
		if err := it.p.TruncateAsFollower(st.LeaderEpoch, to); err != nil {
			if !errors.Is(err, partition.ErrNotFollower) {
				f.log.Warn("replica: truncation failed", "topic", it.p.Topic(), "partition", it.p.Index(), "error", err)
			}
			f.delay(it)
			return
		}
	}
	it.fs.synced = done
}

// fetch sends one Fetch for items and applies the answer.
func (f *fetcher) fetch(ctx context.Context, c *conn, items []item) error {
	cfg := &f.m.cfg
	req := kmsg.NewPtrFetchRequest()
	req.Version = fetchVersion
	req.ReplicaID = f.m.brokerID
	req.MaxWaitMillis = int32(cfg.MaxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = cfg.MaxBytes
	req.SessionEpoch = -1
	byTopic := map[string]int{}
	for _, it := range items {
		i, ok := byTopic[it.p.Topic()]
		if !ok {
			i = len(req.Topics)
			byTopic[it.p.Topic()] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic = it.p.Topic()
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = it.p.Index()
		rp.CurrentLeaderEpoch = it.st.LeaderEpoch
		rp.FetchOffset = it.st.LogEndOffset
		rp.LastFetchedEpoch = it.st.LastFetchedEpoch
		rp.LogStartOffset = it.st.LogStartOffset
		rp.PartitionMaxBytes = cfg.PartitionMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if err := c.request(req, resp, cfg.MaxWait+cfg.RequestTimeout); err != nil {
		return err
	}
	if resp.ErrorCode != 0 {
		f.log.Debug("replica: Fetch refused", "error", kerr.ErrorForCode(resp.ErrorCode))
		for _, it := range items {
			f.delay(it)
		}
		return nil
	}
	answers := map[string]map[int32]*kmsg.FetchResponseTopicPartition{}
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		for pi := range t.Partitions {
			if answers[t.Topic] == nil {
				answers[t.Topic] = map[int32]*kmsg.FetchResponseTopicPartition{}
			}
			answers[t.Topic][t.Partitions[pi].Partition] = &t.Partitions[pi]
		}
	}
	for _, it := range items {
		rp := answers[it.p.Topic()][it.p.Index()]
		if rp == nil {
			f.delay(it)
			continue
		}
		if err := f.apply(ctx, c, it, rp); err != nil {
			return err
		}
	}
	return nil
}

// apply handles one partition's Fetch answer. It returns only connection
// errors (of a ListOffsets it sends).
func (f *fetcher) apply(ctx context.Context, c *conn, it item, rp *kmsg.FetchResponseTopicPartition) error {
	switch {
	case rp.ErrorCode == kerr.OffsetOutOfRange.Code:
		return f.outOfRange(c, it)
	case rp.ErrorCode != 0:
		f.log.Debug("replica: Fetch refused a partition", "topic", it.p.Topic(), "partition", it.p.Index(), "error", kerr.ErrorForCode(rp.ErrorCode))
		f.delay(it)
		return nil
	case rp.DivergingEpoch.EndOffset >= 0 || rp.DivergingEpoch.Epoch >= 0:
		f.reconcile(it, rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset, "fetch_diverging_epoch")
		return nil
	}
	_, err := it.p.AppendAsFollower(it.st.LeaderEpoch, rp.RecordBatches, rp.HighWatermark, rp.LogStartOffset)
	switch {
	case err == nil:
	case errors.Is(err, partition.ErrNotFollower):
		// The role changed since the fetch; the next round sees it.
	case errors.Is(err, commitlog.ErrOffsetMismatch), errors.Is(err, commitlog.ErrInvalidEpoch):
		f.log.Warn("replica: replicated batches do not follow the log; re-synchronising with the leader",
			"topic", it.p.Topic(), "partition", it.p.Index(), "error", err)
		it.fs.synced = false
		f.delay(it)
	default:
		if ctx.Err() == nil {
			f.log.Warn("replica: appending replicated batches failed", "topic", it.p.Topic(), "partition", it.p.Index(), "error", err)
		}
		f.delay(it)
	}
	return nil
}

// outOfRange handles OFFSET_OUT_OF_RANGE: the follower's log end offset is
// below the leader's log start (the follower restarts its log there) or
// above the leader's log end (it truncates to it: an unclean leader).
func (f *fetcher) outOfRange(c *conn, it item) error {
	start, end, err := f.leaderOffsets(c, it)
	if err != nil {
		return err
	}
	if start < 0 || end < 0 {
		f.delay(it)
		return nil
	}
	st := it.st
	switch {
	case st.LogEndOffset < start:
		f.log.Info("replica: follower log ends below the leader's log start; restarting it there",
			"topic", it.p.Topic(), "partition", it.p.Index(), "log_end_offset", st.LogEndOffset, "leader_log_start_offset", start)
		err = it.p.ResetAsFollower(st.LeaderEpoch, start)
	case st.LogEndOffset > end:
		f.log.Warn("replica: follower log ends past the leader's log end; truncating",
			"topic", it.p.Topic(), "partition", it.p.Index(), "log_end_offset", st.LogEndOffset, "leader_log_end_offset", end)
		err = it.p.TruncateAsFollower(st.LeaderEpoch, end)
	default:
		f.delay(it)
	}
	if err != nil && !errors.Is(err, partition.ErrNotFollower) {
		f.log.Warn("replica: handling an out of range fetch failed", "topic", it.p.Topic(), "partition", it.p.Index(), "error", err)
		f.delay(it)
	}
	return nil
}

// leaderOffsets asks the leader for its log start and end offsets (-1 when
// it refuses).
func (f *fetcher) leaderOffsets(c *conn, it item) (start, end int64, err error) {
	start, end = -1, -1
	for _, ts := range []int64{partition.TimestampEarliest, partition.TimestampLatest} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = listOffsetsVersion
		req.ReplicaID = f.m.brokerID
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic = it.p.Topic()
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = it.p.Index()
		rp.CurrentLeaderEpoch = it.st.LeaderEpoch
		rp.Timestamp = ts
		t.Partitions = append(t.Partitions, rp)
		req.Topics = append(req.Topics, t)
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		if err := c.request(req, resp, f.m.cfg.RequestTimeout); err != nil {
			return -1, -1, err
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			return -1, -1, nil
		}
		off := resp.Topics[0].Partitions[0].Offset
		if ts == partition.TimestampEarliest {
			start = off
		} else {
			end = off
		}
	}
	return start, end, nil
}
