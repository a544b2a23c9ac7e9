package replica

import (
	"slices"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// elect takes over the partitions this broker hosts whose leader is gone
// (no leader, or a leader that is fenced or unregistered): the first
// replica in assignment order that is live and in the ISR becomes leader
// with the ISR's live members; if that is this broker, it writes the change
// with AlterPartition (the leader epoch is bumped by the backend). Every
// live replica runs the same rule on its own image, and the compare-and-set
// on the partition epoch makes concurrent attempts harmless. With no live
// ISR member the partition stays offline, unless the topic has
// unclean.leader.election.enable=true: then the first live replica takes
// over with an ISR of itself (acknowledged records may be lost).
func (m *Manager) elect(img *cluster.Image) {
	for _, p := range m.parts.Partitions() {
		part, ok := img.Partition(p.Topic(), p.Index())
		if !ok || (part.Leader != metadata.NoLeader && img.IsLive(part.Leader)) || !img.IsLive(m.brokerID) {
			continue
		}
		var liveISR, live []int32
		for _, id := range part.Replicas {
			if !img.IsLive(id) {
				continue
			}
			live = append(live, id)
			if slices.Contains(part.ISR, id) {
				liveISR = append(liveISR, id)
			}
		}
		change := metadata.PartitionChange{Topic: part.Topic, Partition: part.Partition, ExpectedPartitionEpoch: part.PartitionEpoch, Leader: m.brokerID}
		what := "leader_election"
		switch {
		case len(liveISR) > 0:
			if liveISR[0] != m.brokerID {
				continue
			}
			change.ISR = liveISR
		case len(live) > 0 && live[0] == m.brokerID && m.unclean(img, part.Topic):
			change.ISR = []int32{m.brokerID}
			what = "unclean_leader_election"
			m.log.Warn("replica: no in-sync replica is alive; electing this out-of-sync replica (unclean.leader.election.enable)",
				"topic", part.Topic, "partition", part.Partition, "isr", part.ISR)
		default:
			continue
		}
		m.alter(change, what, "old_leader", part.Leader, "old_leader_epoch", part.LeaderEpoch, "isr_from", part.ISR, "isr_to", change.ISR)
	}
}

// unclean reports the topic's unclean.leader.election.enable.
func (m *Manager) unclean(img *cluster.Image, topic string) bool {
	t, ok := img.Topic(topic)
	if !ok {
		return false
	}
	v, err := topicconfig.Resolve(t.Configs, topicconfig.Defaults())
	return err == nil && v.UncleanLeaderElectionEnable
}
