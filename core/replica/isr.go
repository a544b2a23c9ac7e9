package replica

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// isrTrack is the leader's view of its followers' progress in one
// partition (run goroutine only). Follower log end offsets come from their
// fetches (partition.LeaderState); each check samples them: a follower is
// caught up at a check if it has the leader's log end offset then, and was
// caught up at the previous check if it has what the leader had then
// (Kafka's lastCaughtUpTime, at the resolution of the check interval).
type isrTrack struct {
	epoch    int32
	prevTick time.Time
	prevLEO  int64
	caught   map[int32]time.Time
}

// manageISR checks every partition this broker leads: followers in the ISR
// that are fenced, or have not caught up for LagTimeMax, leave it;
// followers out of it that are live and have reached the high watermark
// (and the start of the leader's epoch) join it. A change is written with
// AlterPartition from the partition epoch the replica applied; a stale one
// is dropped (the next check decides again from the newer image).
func (m *Manager) manageISR(img *cluster.Image, now time.Time) {
	seen := map[*partition.Partition]bool{}
	for _, p := range m.parts.Partitions() {
		ls, ok := p.LeaderState()
		if !ok {
			continue
		}
		seen[p] = true
		tr := m.tracks[p]
		if tr == nil || tr.epoch != ls.LeaderEpoch {
			tr = &isrTrack{epoch: ls.LeaderEpoch, prevTick: now, prevLEO: ls.LogEndOffset, caught: map[int32]time.Time{}}
			for _, id := range ls.Replicas {
				tr.caught[id] = now // the lag counts from the leadership's start
			}
			m.tracks[p] = tr
		}
		isr := m.nextISR(img, ls, tr, now)
		tr.prevTick, tr.prevLEO = now, ls.LogEndOffset
		if isr == nil {
			continue
		}
		m.alter(metadata.PartitionChange{
			Topic: p.Topic(), Partition: p.Index(), ExpectedPartitionEpoch: ls.PartitionEpoch,
			Leader: m.brokerID, ISR: isr,
		}, "isr", "isr_from", ls.ISR, "isr_to", isr, "leader_log_end_offset", ls.LogEndOffset, "high_watermark", ls.HighWatermark)
	}
	for p := range m.tracks {
		if !seen[p] {
			delete(m.tracks, p)
		}
	}
}

// nextISR returns the ISR the leader should have, or nil if it has it.
func (m *Manager) nextISR(img *cluster.Image, ls partition.LeaderState, tr *isrTrack, now time.Time) []int32 {
	var next []int32
	changed := false
	for _, id := range ls.Replicas {
		in := slices.Contains(ls.ISR, id)
		if id == m.brokerID {
			next = append(next, id)
			changed = changed || !in
			continue
		}
		leo, fetched := ls.FollowerEndOffsets[id]
		switch {
		case fetched && leo >= ls.LogEndOffset:
			tr.caught[id] = now
		case fetched && leo >= tr.prevLEO && tr.caught[id].Before(tr.prevTick):
			tr.caught[id] = tr.prevTick
		}
		live := img.IsLive(id)
		var keep bool
		if in {
			lagging := !(fetched && leo >= ls.LogEndOffset) && now.Sub(tr.caught[id]) > m.cfg.LagTimeMax
			keep = live && !lagging
		} else {
			keep = live && fetched && leo >= ls.HighWatermark && leo >= ls.EpochStartOffset
		}
		if keep {
			next = append(next, id)
		}
		changed = changed || keep != in
	}
	if !changed {
		return nil
	}
	return next
}

// alter writes a partition change through the cluster, bounded by the
// Manager's life and Config.CallTimeout, logging the outcome (what and
// attrs describe it). It reports whether the change committed.
func (m *Manager) alter(change metadata.PartitionChange, what string, attrs ...any) bool {
	_, err := m.write(m.ctx, change, what, attrs...)
	return err == nil
}

// write is alter within ctx (and Config.CallTimeout): it returns the
// partition as committed, or the error (wrapping metadata.ErrStaleEpoch
// when the change was stale). A failure because ctx ended is not logged.
func (m *Manager) write(ctx context.Context, change metadata.PartitionChange, what string, attrs ...any) (metadata.Partition, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
	defer cancel()
	got, err := m.cl.AlterPartition(ctx, change)
	attrs = append([]any{"topic", change.Topic, "partition", change.Partition, "change", what, "expected_partition_epoch", change.ExpectedPartitionEpoch}, attrs...)
	switch {
	case err == nil:
		m.log.Info("replica: partition state changed", append(attrs, "leader", got.Leader, "leader_epoch", got.LeaderEpoch, "partition_epoch", got.PartitionEpoch)...)
	case errors.Is(err, metadata.ErrStaleEpoch):
		m.log.Debug("replica: partition change was stale; deciding again from the next image", append(attrs, "error", err)...)
	case m.ctx.Err() != nil:
	default:
		m.log.Warn("replica: partition change failed", append(attrs, "error", err)...)
	}
	return got, err
}
