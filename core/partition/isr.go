package partition

import "maps"

// Leader side of ISR management (issue 8). The leader's replica manager
// (core/replica) samples LeaderState periodically, decides which followers
// have fallen behind for longer than replica.lag.time.max.ms or have caught
// up, and changes the ISR through the metadata backend's AlterPartition;
// the partition learns the new ISR from the next image (setRole), which
// moves the high watermark (never backwards).

// LeaderState is a leader replica's state for ISR decisions.
type LeaderState struct {
	// LeaderEpoch and PartitionEpoch are the image's, as applied: an
	// AlterPartition based on this state expects PartitionEpoch.
	LeaderEpoch, PartitionEpoch int32
	// Replicas and ISR are the image's, shared: do not modify.
	Replicas, ISR []int32
	// LogEndOffset and HighWatermark are the leader's.
	LogEndOffset, HighWatermark int64
	// EpochStartOffset is the leader's log end offset when it took the
	// leadership in LeaderEpoch: a follower must reach it (and the high
	// watermark) to join the ISR.
	EpochStartOffset int64
	// FollowerEndOffsets maps each follower that fetched in this epoch to
	// its log end offset (its last fetch offset); a copy.
	FollowerEndOffsets map[int32]int64
	// Config is the topic's effective configuration (min.insync.replicas).
	Config TopicConfig
}

// LeaderState returns the replica's state if it leads; ok is false for a
// follower or a closed replica.
func (p *Partition) LeaderState() (LeaderState, bool) {
	r := p.role.Load()
	if r.closed || !r.leader {
		return LeaderState{}, false
	}
	p.fmu.Lock()
	fo := maps.Clone(p.followers)
	p.fmu.Unlock()
	if fo == nil {
		fo = map[int32]int64{}
	}
	return LeaderState{
		LeaderEpoch: r.epoch, PartitionEpoch: r.partitionEpoch,
		Replicas: r.replicas, ISR: r.isr,
		LogEndOffset: p.log.LogEndOffset(), HighWatermark: p.hw.Load(),
		EpochStartOffset: r.epochStart, FollowerEndOffsets: fo, Config: r.cfg,
	}, true
}
