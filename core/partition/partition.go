package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Special values of the requests' replica id and epochs.
const (
	// ConsumerReplicaID is the replica id of a consumer (not a broker).
	ConsumerReplicaID int32 = -1
	// DebuggingReplicaID lets ListOffsets read any replica, leader or not.
	DebuggingReplicaID int32 = -2
	// NoEpoch is a current leader epoch or last fetched epoch that was not
	// given: no check.
	NoEpoch int32 = -1
)

// Special timestamps of ListOffsets.
const (
	// TimestampLatest asks for the high watermark (the last stable offset
	// with read_committed, which is the same here).
	TimestampLatest int64 = -1
	// TimestampEarliest asks for the log start offset.
	TimestampEarliest int64 = -2
	// TimestampMax asks for the record with the largest timestamp
	// (KIP-734).
	TimestampMax int64 = -3
	// TimestampEarliestLocal asks for the first offset stored locally
	// (KIP-405): the log start offset, as nothing is tiered.
	TimestampEarliestLocal int64 = -4
	// TimestampLatestTiered asks for the last tiered offset (KIP-1005):
	// none, as nothing is tiered.
	TimestampLatestTiered int64 = -5
	// TimestampEarliestPendingUpload asks for the first offset not yet
	// tiered (KIP-1023): none, as nothing is tiered.
	TimestampEarliestPendingUpload int64 = -6
)

// ErrOffsetNotAvailable: a consumer's ListOffsets on a new leader whose
// high watermark has not yet reached the start of its epoch —
// OFFSET_NOT_AVAILABLE (retriable).
var ErrOffsetNotAvailable = errors.New("partition: offset not available yet")

// role is an immutable snapshot of a partition's replica state as last
// applied from the metadata image, with the topic's configuration. A new
// one replaces it (under roleMu) on every change.
type role struct {
	leader   bool  // this broker leads
	leaderID int32 // the image's leader, or metadata.NoLeader
	epoch    int32 // the image's leader epoch
	// epochStart is the log end offset when this broker became leader in
	// epoch: the start of the epoch (leader only).
	epochStart     int64
	replicas       []int32 // shared with the image: read-only
	isr            []int32 // shared with the image: read-only
	partitionEpoch int32
	cfg            TopicConfig
	closed         bool
}

// checkEpoch is Kafka's current leader epoch check.
func (r *role) checkEpoch(current int32) error {
	switch {
	case current < 0:
		return nil
	case current > r.epoch:
		return fmt.Errorf("%w: request has epoch %d, this broker knows epoch %d", ErrUnknownLeaderEpoch, current, r.epoch)
	case current < r.epoch:
		return fmt.Errorf("%w: request has epoch %d, current epoch is %d", ErrFencedLeaderEpoch, current, r.epoch)
	}
	return nil
}

// Partition is one replica hosted by this broker: its log, its role
// (leader or follower, from the metadata image), the high watermark and
// the idempotent producer state. The Manager creates, reconfigures and
// closes it; handlers call its methods, which are all safe for concurrent
// use.
//
// As leader it accepts Produce (Append, Produce), serves Fetch up to the
// high watermark, ListOffsets, OffsetForLeaderEpoch and DeleteRecords. As
// follower it refuses them with ErrNotLeader; package replica feeds it
// (AppendAsFollower, TruncateAsFollower in follower.go).
//
// The high watermark is the minimum of the log end offsets of the ISR: the
// leader's own, and each follower's as reported by its Fetch
// (RecordFollowerFetch). A follower that has not fetched yet counts as
// unknown, so with followers in the ISR and no replication the high
// watermark does not move: acks=all waits and consumers see nothing past
// it, rather than data that is not replicated.
//
// Lock order: roleMu (appends share it, role changes and Close take it
// exclusively), then a producer entry's mutex, then the log's writer lock.
// fmu and the waiter set's mutex are leaves.
type Partition struct {
	topic    string
	index    int32
	id       metadata.TopicID
	dir      string
	brokerID int32
	maxFetch int
	log      *commitlog.Log
	logger   *slog.Logger

	roleMu sync.RWMutex
	role   atomic.Pointer[role]

	hw        atomic.Int64
	hwWritten int64 // last checkpointed; Manager goroutine only

	producers *producers

	fmu       sync.Mutex
	followers map[int32]int64 // follower log end offsets (leader only)

	waiters waiterSet
}

// Topic returns the topic name.
func (p *Partition) Topic() string { return p.topic }

// Index returns the partition number.
func (p *Partition) Index() int32 { return p.index }

// TopicID returns the id of the topic incarnation this replica belongs to.
func (p *Partition) TopicID() metadata.TopicID { return p.id }

// Dir returns the partition's directory.
func (p *Partition) Dir() string { return p.dir }

// HighWatermark returns the high watermark: consumers read below it.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// LogStartOffset returns the first readable offset.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset returns the offset the next record gets.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// Size returns the bytes of the log's segment files.
func (p *Partition) Size() int64 { return p.log.Size() }

// NumProducers returns how many idempotent producers the partition keeps
// state for.
func (p *Partition) NumProducers() int { return p.producers.count() }

// State is a partition's replica state as this broker applied it.
type State struct {
	// Leader is true when this broker leads the partition.
	Leader bool
	// LeaderID and LeaderEpoch are the image's leader (metadata.NoLeader
	// for none) and leader epoch.
	LeaderID    int32
	LeaderEpoch int32
	// Replicas and ISR are the image's, shared: do not modify.
	Replicas, ISR []int32
	// Config is the topic's effective configuration.
	Config TopicConfig
	// Closed is true once the partition was closed or deleted.
	Closed bool
}

// State returns the replica state.
func (p *Partition) State() State {
	r := p.role.Load()
	return State{Leader: r.leader, LeaderID: r.leaderID, LeaderEpoch: r.epoch, Replicas: r.replicas, ISR: r.isr, Config: r.cfg, Closed: r.closed}
}

// ProduceResult describes an accepted batch.
type ProduceResult struct {
	// BaseOffset and LastOffset are the offsets of its first and last
	// record. For a duplicate they are those of the original.
	BaseOffset, LastOffset int64
	// LogAppendTime is the broker's timestamp with
	// message.timestamp.type=LogAppendTime, -1 with CreateTime.
	LogAppendTime int64
	// LogStartOffset is the log start offset after the append.
	LogStartOffset int64
	// Duplicate is true when the batch was a retry of one already in the
	// log (idempotent producer) and was not appended again.
	Duplicate bool
	// LeaderEpoch is the leader epoch the batch was appended in.
	LeaderEpoch int32
}

// Append validates one produced record batch and appends it as leader:
//
//   - acks must be -1, 0 or 1 (ErrInvalidRequiredAcks);
//   - records must be exactly one valid magic 2 batch within
//     max.message.bytes (commitlog.ErrCorruptBatch, ErrInvalidRecord,
//     ErrBatchTooLarge — Kafka too takes exactly one batch per partition
//     from a client); transactional batches are refused
//     (ErrTransactionsUnsupported);
//   - the broker must lead the partition (ErrNotLeader);
//   - with acks=-1, the ISR must have min.insync.replicas members
//     (ErrNotEnoughReplicas);
//   - an idempotent batch passes the producer checks (see producer.go):
//     a retry is answered with its original offsets (Duplicate), a gap is
//     ErrOutOfOrderSequence, an old epoch ErrInvalidProducerEpoch.
//
// With CreateTime the batch's max timestamp is corrected to its largest
// record timestamp and with LogAppendTime set to the append time, as Kafka
// does; records is modified in place. Append returns once the batch is in
// the log; acks=-1 callers then wait with WaitAcked (or use Produce).
func (p *Partition) Append(records []byte, acks int16) (ProduceResult, error) {
	if acks != -1 && acks != 0 && acks != 1 {
		return ProduceResult{}, fmt.Errorf("%w: %d (want -1, 0 or 1)", ErrInvalidRequiredAcks, acks)
	}
	v := commitlog.Validator{MaxBatchBytes: p.role.Load().cfg.MaxMessageBytes, ClientOrigin: true}
	sum, err := v.Validate(records)
	if err != nil {
		return ProduceResult{}, err
	}
	if sum.Batches != 1 {
		return ProduceResult{}, fmt.Errorf("%w: a produce request must carry exactly one record batch per partition, got %d", commitlog.ErrInvalidRecord, sum.Batches)
	}
	h := &sum.First.Header
	if h.Transactional() {
		return ProduceResult{}, fmt.Errorf("%w: transactional batch from producer %d", ErrTransactionsUnsupported, h.ProducerID)
	}
	if p.role.Load().cfg.Compact {
		// As Kafka: a compacted topic keeps the latest record per key,
		// so a record without one is refused (INVALID_RECORD).
		if err := commitlog.RequireRecordKeys(records); err != nil {
			return ProduceResult{}, err
		}
	}

	p.roleMu.RLock()
	defer p.roleMu.RUnlock()
	r := p.role.Load()
	if r.closed || !r.leader {
		return ProduceResult{}, p.notLeader(r)
	}
	if acks == -1 && len(r.isr) < r.cfg.MinInsyncReplicas {
		return ProduceResult{}, fmt.Errorf("%w: ISR has %d replicas, min.insync.replicas is %d", ErrNotEnoughReplicas, len(r.isr), r.cfg.MinInsyncReplicas)
	}
	if !r.cfg.LogAppendTime && !h.LogAppendTime() {
		commitlog.SetMaxTimestamp(records, sum.First.MaxRecordTimestamp)
	}

	var e *producerEntry
	var lastSeq int32
	if h.HasProducerID() {
		e = p.producers.lock(h.ProducerID)
		defer e.mu.Unlock()
		lastSeq = lastSequence(h.BaseSequence, h.LastOffsetDelta)
		if d, ok := e.duplicate(h.ProducerEpoch, h.BaseSequence, lastSeq); ok {
			appendTime := int64(-1)
			if r.cfg.LogAppendTime {
				appendTime = d.timestamp
			}
			return ProduceResult{
				BaseOffset: d.firstOffset, LastOffset: d.lastOffset, LogAppendTime: appendTime,
				LogStartOffset: p.log.LogStartOffset(), Duplicate: true, LeaderEpoch: r.epoch,
			}, nil
		}
		if err := e.check(h.ProducerID, h.ProducerEpoch, h.BaseSequence); err != nil {
			return ProduceResult{}, err
		}
	}

	res, err := p.log.Append(records, commitlog.AppendOptions{LeaderEpoch: r.epoch, LogAppendTime: r.cfg.LogAppendTime})
	if err != nil {
		if errors.Is(err, commitlog.ErrInvalidEpoch) || errors.Is(err, commitlog.ErrClosed) {
			return ProduceResult{}, fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return ProduceResult{}, err
	}
	if e != nil {
		ts := sum.First.MaxRecordTimestamp
		if r.cfg.LogAppendTime {
			ts = res.LogAppendTime
		}
		e.record(h.ProducerEpoch, batchMeta{
			firstSeq: h.BaseSequence, lastSeq: lastSeq,
			firstOffset: res.BaseOffset, lastOffset: res.LastOffset, timestamp: ts,
		})
	}
	p.advanceHW(r)
	p.waiters.notify()
	return ProduceResult{
		BaseOffset: res.BaseOffset, LastOffset: res.LastOffset, LogAppendTime: res.LogAppendTime,
		LogStartOffset: res.LogStartOffset, LeaderEpoch: r.epoch,
	}, nil
}

// Produce is Append followed, for acks=-1, by WaitAcked bounded by timeout.
func (p *Partition) Produce(ctx context.Context, records []byte, acks int16, timeout time.Duration) (ProduceResult, error) {
	res, err := p.Append(records, acks)
	if err != nil || acks != -1 {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return res, p.WaitAcked(ctx, res)
}

// Acked reports whether an acks=-1 append is acknowledged: the high
// watermark passed its last offset. done with a nil error: acknowledged;
// done with ErrNotEnoughReplicasAfterAppend: replicated, but the ISR is
// below min.insync.replicas; ErrNotLeader: leadership moved since the
// append (the client must retry on the new leader). It never blocks.
func (p *Partition) Acked(res ProduceResult) (done bool, err error) {
	r := p.role.Load()
	if r.closed || !r.leader || r.epoch != res.LeaderEpoch {
		return true, p.notLeader(r)
	}
	if p.hw.Load() <= res.LastOffset {
		return false, nil
	}
	if len(r.isr) < r.cfg.MinInsyncReplicas {
		return true, fmt.Errorf("%w: ISR has %d replicas, min.insync.replicas is %d", ErrNotEnoughReplicasAfterAppend, len(r.isr), r.cfg.MinInsyncReplicas)
	}
	return true, nil
}

// WaitAcked waits until Acked is done and returns its error, or until ctx
// ends (ErrTimeout wrapping ctx's error).
func (p *Partition) WaitAcked(ctx context.Context, res ProduceResult) error {
	if done, err := p.Acked(res); done {
		return err
	}
	w := NewWaiter()
	defer w.Stop()
	w.Watch(p)
	for {
		if done, err := p.Acked(res); done {
			return err
		}
		select {
		case <-w.C():
		case <-ctx.Done():
			return fmt.Errorf("%w: offset %d not replicated: %w", ErrTimeout, res.LastOffset, ctx.Err())
		}
	}
}

// notLeader describes why r cannot serve a leader request.
func (p *Partition) notLeader(r *role) error {
	if r.closed {
		return fmt.Errorf("%w: %s-%d is closed", ErrNotLeader, p.topic, p.index)
	}
	return fmt.Errorf("%w: %s-%d is led by broker %d (epoch %d)", ErrNotLeader, p.topic, p.index, r.leaderID, r.epoch)
}

// advanceHW moves the high watermark up to the minimum log end offset of
// the ISR (never down); it reports whether it moved.
func (p *Partition) advanceHW(r *role) bool {
	if !r.leader || r.closed {
		return false
	}
	cand := p.log.LogEndOffset()
	for _, id := range r.isr {
		if id == p.brokerID {
			continue
		}
		p.fmu.Lock()
		leo, ok := p.followers[id]
		p.fmu.Unlock()
		if !ok {
			leo = -1
		}
		cand = min(cand, leo)
	}
	for {
		old := p.hw.Load()
		if cand <= old {
			return false
		}
		if p.hw.CompareAndSwap(old, cand) {
			return true
		}
	}
}

// RecordFollowerFetch records that follower replica fetched from offset,
// which is its log end offset, and advances the high watermark if that
// lets it (leader only; ignored for brokers that are not replicas).
// Followers' fetches (package replica) arrive here through Fetch with
// ReplicaID set.
func (p *Partition) RecordFollowerFetch(replica int32, offset int64) {
	r := p.role.Load()
	if !r.leader || r.closed || replica == p.brokerID || !slices.Contains(r.replicas, replica) {
		return
	}
	p.fmu.Lock()
	if p.followers == nil {
		p.followers = map[int32]int64{}
	}
	p.followers[replica] = offset
	p.fmu.Unlock()
	if p.advanceHW(r) {
		p.waiters.notify()
	}
}

// FetchParams are one partition's part of a Fetch.
type FetchParams struct {
	// Offset is the first offset wanted.
	Offset int64
	// MaxBytes bounds the batches returned (partition_max_bytes, and what
	// is left of the response's max_bytes); it is capped by the Manager's
	// MaxFetchBytes.
	MaxBytes int
	// MinOneMessage returns the first batch even when it is larger than
	// MaxBytes (Kafka does so for the first partition with data, so that
	// a consumer always progresses).
	MinOneMessage bool
	// CurrentLeaderEpoch is checked if not NoEpoch.
	CurrentLeaderEpoch int32
	// LastFetchedEpoch, if not NoEpoch, is the epoch of the last batch the
	// fetcher has; a log that diverges from it is reported in Diverging
	// instead of data (KIP-320, for followers and consumers).
	LastFetchedEpoch int32
	// ReplicaID is ConsumerReplicaID for consumers, or the broker id of a
	// follower, which reads up to the log end offset and whose fetch
	// offset is recorded as its log end offset.
	ReplicaID int32
	// ReadCommitted is isolation_level=read_committed. Since transactions
	// are not supported the last stable offset is the high watermark, so
	// it reads exactly what read_uncommitted reads.
	ReadCommitted bool
}

// FetchResult is a partition's Fetch answer.
type FetchResult struct {
	// Records is the dst passed to Fetch with whole batches appended,
	// verbatim as stored.
	Records []byte
	// Slice holds the batches instead of Records for FetchSlice; the
	// caller closes it.
	Slice commitlog.FileSlice
	// HighWatermark, LastStableOffset and LogStartOffset describe the
	// log for the response.
	HighWatermark, LastStableOffset, LogStartOffset int64
	// Diverging is set when LastFetchedEpoch diverges from the log: the
	// fetcher must truncate to DivergingEndOffset of DivergingEpoch.
	Diverging          bool
	DivergingEpoch     int32
	DivergingEndOffset int64
}

// Fetch reads batches from f.Offset as leader, appending them to dst:
// consumers up to the high watermark, followers up to the log end offset.
// An offset below the log start or above the log end is
// commitlog.ErrOffsetOutOfRange; one at or past the high watermark (for a
// consumer) returns no data. Epoch checks come first (ErrFencedLeaderEpoch,
// ErrUnknownLeaderEpoch), then ErrNotLeader. It never blocks: waiting for
// data is the caller's, with a Waiter.
func (p *Partition) Fetch(dst []byte, f FetchParams) (FetchResult, error) {
	res := FetchResult{Records: dst, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1, DivergingEpoch: -1, DivergingEndOffset: -1}
	err := p.fetch(&res, f, func(maxBytes int, maxOffset int64) error {
		rr, err := p.log.Read(dst, f.Offset, maxBytes, maxOffset)
		if err != nil {
			return err
		}
		if !f.MinOneMessage && len(rr.Data)-len(dst) > maxBytes {
			rr.Data = dst
		}
		res.Records = rr.Data
		return nil
	})
	return res, err
}

// FetchSlice is Fetch without the copy: the batches are returned as
// res.Slice, a range of a segment file to send with its WriteTo
// (sendfile) or copy with AppendTo; res.Records stays nil. The caller must
// Close the slice (also an empty one; Close is idempotent), even when an
// error is returned. Same rules, errors and offsets as Fetch.
func (p *Partition) FetchSlice(f FetchParams) (res FetchResult, err error) {
	res = FetchResult{HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1, DivergingEpoch: -1, DivergingEndOffset: -1}
	err = p.fetch(&res, f, func(maxBytes int, maxOffset int64) error {
		s, err := p.log.ReadSlice(f.Offset, maxBytes, maxOffset)
		if err != nil {
			return err
		}
		if !f.MinOneMessage && s.Len() > int64(maxBytes) {
			_ = s.Close()
			return nil
		}
		res.Slice = s
		return nil
	})
	return res, err
}

// fetch is Fetch's checks and offsets around read, which reads up to
// maxBytes below maxOffset into res.
func (p *Partition) fetch(res *FetchResult, f FetchParams, read func(maxBytes int, maxOffset int64) error) error {
	r := p.role.Load()
	if r.closed {
		return p.notLeader(r)
	}
	if err := r.checkEpoch(f.CurrentLeaderEpoch); err != nil {
		return err
	}
	if !r.leader {
		return p.notLeader(r)
	}
	replica := f.ReplicaID >= 0
	if replica && (f.ReplicaID == p.brokerID || !slices.Contains(r.replicas, f.ReplicaID)) {
		return fmt.Errorf("%w: broker %d is not a follower of %s-%d", ErrNotLeader, f.ReplicaID, p.topic, p.index)
	}
	hw := p.hw.Load()
	if f.LastFetchedEpoch >= 0 {
		epoch, end := endOffsetFor(p.epochEntries(r), f.LastFetchedEpoch, p.log.LogEndOffset())
		if epoch < f.LastFetchedEpoch || end < f.Offset {
			p.fillOffsets(res)
			res.Diverging, res.DivergingEpoch, res.DivergingEndOffset = true, epoch, end
			return nil
		}
	}
	maxOffset := hw
	if replica {
		maxOffset = math.MaxInt64
	}
	maxBytes := min(f.MaxBytes, p.maxFetch)
	if maxBytes > 0 || f.MinOneMessage {
		if err := read(max(maxBytes, 0), maxOffset); err != nil {
			return err
		}
	} else if lso, leo := p.log.LogStartOffset(), p.log.LogEndOffset(); f.Offset < lso || f.Offset > leo {
		return fmt.Errorf("%w: offset %d, log has [%d, %d)", commitlog.ErrOffsetOutOfRange, f.Offset, lso, leo)
	}
	if replica {
		p.RecordFollowerFetch(f.ReplicaID, f.Offset)
	}
	p.fillOffsets(res)
	return nil
}

// fillOffsets sets the offsets a Fetch answer reports.
func (p *Partition) fillOffsets(res *FetchResult) {
	res.HighWatermark = p.hw.Load()
	res.LastStableOffset = res.HighWatermark
	res.LogStartOffset = p.log.LogStartOffset()
}

// ListOffsetParams are one partition's part of a ListOffsets.
type ListOffsetParams struct {
	// Timestamp is a record timestamp (ms) or one of the Timestamp*
	// special values.
	Timestamp int64
	// CurrentLeaderEpoch is checked if not NoEpoch.
	CurrentLeaderEpoch int32
	// ReplicaID: ConsumerReplicaID (bounded by the high watermark, leader
	// only), a follower's broker id (bounded by the log end offset, leader
	// only), or DebuggingReplicaID (any replica, log end offset).
	ReplicaID int32
	// ReadCommitted is isolation_level=read_committed (the same bound
	// here: there are no transactions).
	ReadCommitted bool
}

// OffsetResult is a ListOffsets answer; Offset, Timestamp and LeaderEpoch
// are -1 when no record qualifies.
type OffsetResult struct {
	Offset      int64
	Timestamp   int64
	LeaderEpoch int32
}

var noOffset = OffsetResult{Offset: -1, Timestamp: -1, LeaderEpoch: -1}

// ListOffset answers ListOffsets for one partition, as Kafka does: the log
// start offset for TimestampEarliest and TimestampEarliestLocal, the high
// watermark for TimestampLatest (with the current leader epoch), the record
// with the largest timestamp for TimestampMax, nothing for the tiered
// storage values, and for a timestamp >= 0 the first record whose timestamp
// is at least it. Records at or past the high watermark are not answered to
// consumers. Other negative timestamps are the caller's to refuse.
func (p *Partition) ListOffset(q ListOffsetParams) (OffsetResult, error) {
	r := p.role.Load()
	if r.closed {
		return noOffset, p.notLeader(r)
	}
	if err := r.checkEpoch(q.CurrentLeaderEpoch); err != nil {
		return noOffset, err
	}
	if !r.leader && q.ReplicaID != DebuggingReplicaID {
		return noOffset, p.notLeader(r)
	}
	consumer := q.ReplicaID == ConsumerReplicaID
	lastFetchable := p.log.LogEndOffset()
	if consumer {
		lastFetchable = p.hw.Load()
		if r.leader && r.epochStart > lastFetchable && q.Timestamp != TimestampEarliest && q.Timestamp != TimestampEarliestLocal {
			return noOffset, fmt.Errorf("%w: high watermark %d is below the start %d of leader epoch %d", ErrOffsetNotAvailable, lastFetchable, r.epochStart, r.epoch)
		}
	}
	switch q.Timestamp {
	case TimestampEarliest, TimestampEarliestLocal:
		lso := p.log.LogStartOffset()
		return OffsetResult{Offset: lso, Timestamp: -1, LeaderEpoch: epochForOffset(p.epochEntries(r), lso)}, nil
	case TimestampLatest:
		epoch := r.epoch
		if !r.leader {
			epoch = epochForOffset(p.epochEntries(r), lastFetchable-1)
		}
		return OffsetResult{Offset: lastFetchable, Timestamp: -1, LeaderEpoch: epoch}, nil
	case TimestampLatestTiered, TimestampEarliestPendingUpload:
		return noOffset, nil
	case TimestampMax:
		to, ok, err := p.log.MaxTimestamp()
		if err != nil {
			return noOffset, err
		}
		if !ok || to.Offset >= lastFetchable || to.Offset < p.log.LogStartOffset() {
			return noOffset, nil
		}
		return OffsetResult{Offset: to.Offset, Timestamp: to.Timestamp, LeaderEpoch: to.LeaderEpoch}, nil
	}
	if q.Timestamp < 0 {
		return noOffset, fmt.Errorf("partition: unsupported ListOffsets timestamp %d", q.Timestamp)
	}
	to, ok, err := p.log.OffsetForTimestamp(q.Timestamp)
	if err != nil {
		return noOffset, err
	}
	if !ok || to.Offset >= lastFetchable {
		return noOffset, nil
	}
	return OffsetResult{Offset: to.Offset, Timestamp: to.Timestamp, LeaderEpoch: to.LeaderEpoch}, nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch as leader: the largest
// epoch <= epoch that the log knows and the offset where it ends (for the
// current epoch, the log end offset); (-1, -1) when there is no answer.
// The epoch this broker leads in counts from the moment it became leader,
// even before anything was appended in it. Epoch checks first, then
// ErrNotLeader.
func (p *Partition) EndOffsetForEpoch(currentLeaderEpoch, epoch int32) (int32, int64, error) {
	r := p.role.Load()
	if r.closed {
		return -1, -1, p.notLeader(r)
	}
	if err := r.checkEpoch(currentLeaderEpoch); err != nil {
		return -1, -1, err
	}
	if !r.leader {
		return -1, -1, p.notLeader(r)
	}
	e, end := endOffsetFor(p.epochEntries(r), epoch, p.log.LogEndOffset())
	return e, end, nil
}

// DeleteRecordsBefore advances the log start offset to offset as leader
// (DeleteRecords); offset -1 means the high watermark. An offset above the
// high watermark (or negative) is commitlog.ErrOffsetOutOfRange; one at or
// below the log start offset changes nothing. It returns the new log start
// offset (the low watermark), persisted before it returns.
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) {
	p.roleMu.RLock()
	defer p.roleMu.RUnlock()
	r := p.role.Load()
	if r.closed || !r.leader {
		return -1, p.notLeader(r)
	}
	hw := p.hw.Load()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, fmt.Errorf("%w: cannot delete records before %d, the high watermark is %d", commitlog.ErrOffsetOutOfRange, offset, hw)
	}
	lso, err := p.log.DeleteRecordsBefore(offset)
	if err != nil {
		return lso, err
	}
	p.producers.evict(func(e *producerEntry) bool { return e.last().lastOffset < lso })
	return lso, nil
}

// epochEntries returns the log's leader epoch entries plus, for a leader
// whose epoch has no batch yet, the entry its leadership starts (Kafka
// records it in the epoch cache on becoming leader; the log records epochs
// with batches, so it is added here).
func (p *Partition) epochEntries(r *role) []commitlog.EpochEntry {
	entries := p.log.EpochEntries()
	if r.leader {
		if n := len(entries); n == 0 || entries[n-1].Epoch < r.epoch {
			entries = append(entries, commitlog.EpochEntry{Epoch: r.epoch, StartOffset: max(r.epochStart, p.log.LogStartOffset())})
		}
	}
	return entries
}

// endOffsetFor is Kafka's LeaderEpochFileCache.endOffsetFor over entries.
func endOffsetFor(entries []commitlog.EpochEntry, epoch int32, logEndOffset int64) (int32, int64) {
	if epoch < 0 || len(entries) == 0 {
		return -1, -1
	}
	if entries[len(entries)-1].Epoch == epoch {
		return epoch, logEndOffset
	}
	hi := sort.Search(len(entries), func(i int) bool { return entries[i].Epoch > epoch })
	if hi == len(entries) {
		return -1, -1
	}
	if hi == 0 {
		return epoch, entries[0].StartOffset
	}
	return entries[hi-1].Epoch, entries[hi].StartOffset
}

// epochForOffset returns the epoch of the entry covering offset, or -1.
func epochForOffset(entries []commitlog.EpochEntry, offset int64) int32 {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].StartOffset > offset })
	if i == 0 {
		return -1
	}
	return entries[i-1].Epoch
}

// setRole installs the partition's state from the image and the topic's
// configuration (Manager goroutine only). Taking the leadership at an
// epoch records where the epoch starts and recomputes the high watermark;
// losing it wakes acks=-1 producers and fetchers, who then answer
// NOT_LEADER_OR_FOLLOWER. A leader epoch below one already in the log is
// refused (the broker stays a follower and logs an error): appending
// would be refused by the log anyway.
func (p *Partition) setRole(part metadata.Partition, cfg TopicConfig) {
	lead := part.Leader == p.brokerID
	if lead {
		if latest, ok := p.log.LatestEpoch(); ok && latest > part.LeaderEpoch {
			p.logger.Error("partition: metadata names this broker leader at an epoch older than its log's; not leading",
				"leader_epoch", part.LeaderEpoch, "log_epoch", latest)
			lead = false
		}
	}
	p.roleMu.Lock()
	old := p.role.Load()
	r := &role{
		leader:         lead,
		leaderID:       part.Leader,
		epoch:          part.LeaderEpoch,
		replicas:       part.Replicas,
		isr:            part.ISR,
		partitionEpoch: part.PartitionEpoch,
		cfg:            cfg,
	}
	became := lead && (!old.leader || old.epoch != r.epoch)
	switch {
	case became:
		r.epochStart = p.log.LogEndOffset()
		p.fmu.Lock()
		p.followers = nil
		p.fmu.Unlock()
	case lead:
		r.epochStart = old.epochStart
	}
	p.role.Store(r)
	p.roleMu.Unlock()

	if cfg.Log != p.log.Config() {
		if err := p.log.SetConfig(cfg.Log); err != nil {
			p.logger.Warn("partition: applying topic config failed", "error", err)
		}
	}
	changed := became || old.leader != lead
	if p.advanceHW(r) {
		changed = true
	}
	if became {
		p.logger.Info("partition: leading", "leader_epoch", r.epoch, "log_end_offset", r.epochStart, "high_watermark", p.hw.Load())
	} else if old.leader && !lead {
		p.logger.Info("partition: following", "leader", r.leaderID, "leader_epoch", r.epoch)
	}
	if changed || !slices.Equal(old.isr, r.isr) {
		p.waiters.notify()
	}
}

// maintain enforces retention, forgets producers whose batches are gone or
// who have been idle longer than expiration, and checkpoints the high
// watermark (Manager goroutine only).
func (p *Partition) maintain(now time.Time, expiration time.Duration) {
	r := p.role.Load()
	if r.closed {
		return
	}
	res, err := p.log.EnforceRetention(p.hw.Load())
	switch {
	case errors.Is(err, commitlog.ErrClosed):
		return
	case err != nil:
		p.logger.Warn("partition: retention failed", "error", err)
	case res.DeletedSegments > 0:
		p.logger.Debug("partition: retention deleted segments", "segments", res.DeletedSegments, "bytes", res.DeletedBytes, "log_start_offset", res.LogStartOffset)
	}
	lso := p.log.LogStartOffset()
	oldest := now.Add(-expiration).UnixMilli()
	p.producers.evict(func(e *producerEntry) bool {
		last := e.last()
		return last.lastOffset < lso || last.timestamp < oldest
	})
	p.checkpointHW()
}

// checkpointHW writes the high watermark if it changed since the last
// write (Manager goroutine only).
func (p *Partition) checkpointHW() {
	hw := p.hw.Load()
	if hw == p.hwWritten {
		return
	}
	if err := writeFileAtomic(p.dir, hwFile, encodeHW(hw)); err != nil {
		p.logger.Warn("partition: high watermark checkpoint failed", "error", err)
		return
	}
	p.hwWritten = hw
}

// close stops the partition: later requests get ErrNotLeader, waiters
// wake, in-flight appends finish first. With keep, the producer state
// snapshot and the high watermark are written for the next open; without,
// the directory is about to be deleted. Manager goroutine only; idempotent.
func (p *Partition) close(keep bool) error {
	p.roleMu.Lock()
	old := p.role.Load()
	if old.closed {
		p.roleMu.Unlock()
		return nil
	}
	r := *old
	r.closed = true
	p.role.Store(&r)
	p.roleMu.Unlock()
	p.waiters.close()

	var errs []error
	if keep {
		p.checkpointHW()
		snap := p.producers.encodeSnapshot(p.log.LogEndOffset())
		if err := writeFileAtomic(p.dir, snapshotFile, snap); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.log.Close(); err != nil {
		errs = append(errs, fmt.Errorf("partition: closing %s-%d: %w", p.topic, p.index, err))
	}
	return errors.Join(errs...)
}
