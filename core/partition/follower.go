package partition

import (
	"errors"
	"fmt"
	"math"

	"github.com/chronik-go/chronik/core/commitlog"
)

// Follower side of replication (issue 8): a fetcher (core/replica) copies
// the leader's batches into a follower replica with AppendAsFollower, and
// truncates it where it diverges from the leader's log with
// TruncateAsFollower (Kafka's KIP-101/279: the follower asks the leader,
// with OffsetForLeaderEpoch or Fetch's DivergingEpoch, where its last epoch
// ends, and cuts its log there). Every method checks that the partition is
// still a follower at the leader epoch the fetcher fetched in: a role
// change between the fetch and the append refuses the append
// (ErrNotFollower), so that nothing fetched from a deposed leader lands in
// the log.
//
// One fetcher at a time feeds a partition; the methods are nevertheless
// safe for concurrent use (the log's writer lock orders appends, and a
// truncation excludes appends).

// ErrNotFollower: the partition is not a follower at the given leader
// epoch (it leads, is closed, or its role changed since the fetch). The
// fetcher drops what it fetched and starts over from the partition's
// current state.
var ErrNotFollower = errors.New("partition: not a follower at this leader epoch")

// FollowerState is what a fetcher needs to fetch for a follower replica.
type FollowerState struct {
	// LeaderID and LeaderEpoch are the leader to fetch from and the
	// current leader epoch to send.
	LeaderID, LeaderEpoch int32
	// LogStartOffset and LogEndOffset are the local log's; the fetch
	// offset is LogEndOffset.
	LogStartOffset, LogEndOffset int64
	// LastFetchedEpoch is the latest leader epoch in the local log (-1
	// for none): Fetch v12+ last_fetched_epoch, and the epoch to ask
	// OffsetForLeaderEpoch about.
	LastFetchedEpoch int32
	// HighWatermark is the follower's high watermark.
	HighWatermark int64
}

// FollowerState returns the replica's state for fetching; ok is false when
// the replica is not a follower of a leader (it leads, has no leader, or is
// closed).
func (p *Partition) FollowerState() (FollowerState, bool) {
	r := p.role.Load()
	if r.closed || r.leader || r.leaderID < 0 || r.leaderID == p.brokerID {
		return FollowerState{}, false
	}
	last, ok := p.log.LatestEpoch()
	if !ok {
		last = NoEpoch
	}
	return FollowerState{
		LeaderID: r.leaderID, LeaderEpoch: r.epoch,
		LogStartOffset: p.log.LogStartOffset(), LogEndOffset: p.log.LogEndOffset(),
		LastFetchedEpoch: last, HighWatermark: p.hw.Load(),
	}, true
}

// followerRole returns the role if the partition follows at leaderEpoch,
// else ErrNotFollower.
func (p *Partition) followerRole(leaderEpoch int32) (*role, error) {
	r := p.role.Load()
	if r.closed || r.leader || r.epoch != leaderEpoch {
		return nil, fmt.Errorf("%w: %s-%d (leader %d, epoch %d, fetched in epoch %d, closed %v)",
			ErrNotFollower, p.topic, p.index, r.leaderID, r.epoch, leaderEpoch, r.closed)
	}
	return r, nil
}

// FollowerAppend describes what AppendAsFollower did.
type FollowerAppend struct {
	// Batches counts the appended batches.
	Batches int
	// LogEndOffset and HighWatermark are the replica's after the append.
	LogEndOffset, HighWatermark int64
}

// AppendAsFollower appends records, batches as the leader fetched them
// (base offsets and partition leader epochs set by the leader), to the
// follower's log verbatim with commitlog.Log.AppendReplicated: batches
// wholly below the log end offset are skipped (an overlap after a retried
// fetch), an incomplete trailing batch is dropped (the next fetch returns
// it whole), and an empty log whose start falls inside the first batch is
// restarted at that batch's base offset. The log records each new leader
// epoch in its leader-epoch checkpoint; the idempotent producer state is updated from
// the appended batches' headers, as a leader rebuilds it on recovery, so
// that the replica can take over duplicate detection when it becomes
// leader. The high watermark then becomes min(leaderHW, log end offset) if
// that is higher (it never moves back here), and the log start offset
// follows the leader's (leaderLogStart, from the Fetch answer: DeleteRecords
// and retention on the leader) up to the high watermark, as Kafka's
// followers do.
//
// leaderEpoch is the leader epoch the fetch was sent with: if the replica
// no longer follows at it, nothing is appended (ErrNotFollower). Errors of
// the log (commitlog.ErrOffsetMismatch, ErrCorruptBatch, ErrInvalidEpoch)
// are returned wrapped; the fetcher then re-synchronises (truncation).
func (p *Partition) AppendAsFollower(leaderEpoch int32, records []byte, leaderHW, leaderLogStart int64) (FollowerAppend, error) {
	p.roleMu.RLock()
	defer p.roleMu.RUnlock()
	if _, err := p.followerRole(leaderEpoch); err != nil {
		return FollowerAppend{}, err
	}
	leo := p.log.LogEndOffset()
	batches, n, err := wholeBatchesFrom(records, leo)
	if err != nil {
		return FollowerAppend{}, err
	}
	if n > 0 {
		if h, _ := commitlog.ParseHeader(batches); h.BaseOffset < leo && leo == p.log.LogStartOffset() {
			// An empty log that starts inside the leader's first batch (the
			// leader's log start is not batch aligned after DeleteRecords):
			// start it at the batch, as Kafka does; the log start offset
			// moves back up to the leader's below.
			if err := p.log.Reset(h.BaseOffset); err != nil {
				return FollowerAppend{}, fmt.Errorf("partition: %s-%d restarting an empty log at %d: %w", p.topic, p.index, h.BaseOffset, err)
			}
		}
		if _, err := p.log.AppendReplicated(batches); err != nil {
			return FollowerAppend{}, fmt.Errorf("partition: %s-%d appending %d replicated batches at %d: %w", p.topic, p.index, n, leo, err)
		}
		p.recordProducers(batches)
	}
	leo = p.log.LogEndOffset()
	p.raiseHW(min(leaderHW, leo))
	if start := min(leaderLogStart, p.hw.Load()); start > p.log.LogStartOffset() {
		lso, err := p.log.DeleteRecordsBefore(start)
		if err != nil {
			return FollowerAppend{}, fmt.Errorf("partition: %s-%d following the leader's log start offset %d: %w", p.topic, p.index, start, err)
		}
		p.producers.evict(func(e *producerEntry) bool { return e.last().lastOffset < lso })
	}
	p.waiters.notify()
	return FollowerAppend{Batches: n, LogEndOffset: leo, HighWatermark: p.hw.Load()}, nil
}

// raiseHW moves the high watermark up to hw (never down).
func (p *Partition) raiseHW(hw int64) {
	for {
		old := p.hw.Load()
		if hw <= old || p.hw.CompareAndSwap(old, hw) {
			return
		}
	}
}

// wholeBatchesFrom returns the prefix of records made of whole batches,
// without the leading batches that end below from, and how many batches it
// holds.
func wholeBatchesFrom(records []byte, from int64) ([]byte, int, error) {
	start, end, n := -1, 0, 0
	for pos := 0; pos+commitlog.HeaderSize <= len(records); {
		h, err := commitlog.ParseHeader(records[pos:])
		if err != nil {
			return nil, 0, fmt.Errorf("partition: replicated batch at byte %d: %w", pos, err)
		}
		size := h.Size()
		if pos+size > len(records) {
			break
		}
		if h.LastOffset() >= from {
			if start < 0 {
				start = pos
			}
			n++
			end = pos + size
		}
		pos += size
	}
	if start < 0 {
		return nil, 0, nil
	}
	return records[start:end], n, nil
}

// recordProducers updates the idempotent producer state from appended
// batches.
func (p *Partition) recordProducers(batches []byte) {
	for pos := 0; pos+commitlog.HeaderSize <= len(batches); {
		h, err := commitlog.ParseHeader(batches[pos:])
		if err != nil {
			return // AppendReplicated accepted them: cannot happen
		}
		pos += h.Size()
		if !h.HasProducerID() || h.Control() {
			continue
		}
		e := p.producers.lock(h.ProducerID)
		e.record(h.ProducerEpoch, batchMeta{
			firstSeq: h.BaseSequence, lastSeq: lastSequence(h.BaseSequence, h.LastOffsetDelta),
			firstOffset: h.BaseOffset, lastOffset: h.LastOffset(), timestamp: h.MaxTimestamp,
		})
		e.mu.Unlock()
	}
}

// EndOffsetForEpochLocal is endOffsetFor over the replica's own leader
// epoch checkpoint (any role): the largest epoch <= epoch the local log
// knows and where it ends locally (the log end offset for the latest);
// (-1, -1) when there is none. A follower compares it with its leader's
// answer to find where the logs diverge.
func (p *Partition) EndOffsetForEpochLocal(epoch int32) (int32, int64) {
	return endOffsetFor(p.log.EpochEntries(), epoch, p.log.LogEndOffset())
}

// TruncateAsFollower truncates the follower's log to offset (whole
// batches: the log may end below it) at leaderEpoch: the records from
// there on diverge from the leader's log. The leader epoch checkpoint is
// trimmed with it, the idempotent producer state is rebuilt from the
// remaining log, and a high watermark above the new log end offset comes
// down to it. Offset at or above the log end offset changes nothing.
// ErrNotFollower if the replica no longer follows at leaderEpoch; log
// errors wrapped.
func (p *Partition) TruncateAsFollower(leaderEpoch int32, offset int64) error {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	if _, err := p.followerRole(leaderEpoch); err != nil {
		return err
	}
	leo := p.log.LogEndOffset()
	if offset >= leo {
		return nil
	}
	if err := p.log.Truncate(offset); err != nil {
		return fmt.Errorf("partition: %s-%d truncating to %d: %w", p.topic, p.index, offset, err)
	}
	return p.afterTruncation(leo)
}

// ResetAsFollower empties the follower's log and restarts it at offset
// (the leader's log start offset, when the follower's log end offset is
// below it, or the whole log diverges), with the producer state and high
// watermark following. ErrNotFollower if the replica no longer follows at
// leaderEpoch.
func (p *Partition) ResetAsFollower(leaderEpoch int32, offset int64) error {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	if _, err := p.followerRole(leaderEpoch); err != nil {
		return err
	}
	leo := p.log.LogEndOffset()
	if err := p.log.Reset(offset); err != nil {
		return fmt.Errorf("partition: %s-%d resetting to %d: %w", p.topic, p.index, offset, err)
	}
	if p.hw.Load() < offset {
		p.hw.Store(offset)
	}
	return p.afterTruncation(leo)
}

// afterTruncation rebuilds the producer state and lowers the high
// watermark after the log changed from oldEnd (roleMu held exclusively).
func (p *Partition) afterTruncation(oldEnd int64) error {
	leo := p.log.LogEndOffset()
	if hw := p.hw.Load(); hw > leo {
		p.hw.Store(leo)
	}
	fresh := newProducers()
	err := fresh.rebuild(p.log, p.log.LogStartOffset())
	p.producers.replace(fresh)
	p.logger.Info("partition: follower log truncated", "from", oldEnd, "log_end_offset", leo,
		"log_start_offset", p.log.LogStartOffset(), "high_watermark", p.hw.Load())
	p.waiters.notify()
	if err != nil {
		return fmt.Errorf("partition: %s-%d rebuilding producer state after truncation: %w", p.topic, p.index, err)
	}
	return nil
}

// replace makes fresh's entries the state; the current entries are marked
// gone, so that an append holding one looks its producer up again.
func (ps *producers) replace(fresh *producers) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, e := range ps.m {
		e.mu.Lock()
		e.gone = true
		e.mu.Unlock()
	}
	ps.m = fresh.m
}

// ReadLog appends to dst whole batches of the replica's log from offset
// on, up to maxBytes (at least one batch) and up to the log end offset,
// whatever the replica's role: for diagnostics and for comparing replicas
// (a follower's log must be byte-identical to its leader's). It is not a
// client read: nothing bounds it by the high watermark. Errors are the
// log's (commitlog.ErrOffsetOutOfRange, ErrClosed).
func (p *Partition) ReadLog(dst []byte, offset int64, maxBytes int) ([]byte, error) {
	rr, err := p.log.Read(dst, offset, maxBytes, math.MaxInt64)
	if err != nil {
		return dst, err
	}
	return rr.Data, nil
}
