package replica

import (
	"slices"
	"time"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// rebalanceLoop is the automatic preferred leader rebalancing
// (auto.leader.rebalance.enable), a goroutine of the Manager started by
// Start when Config.AutoLeaderRebalanceEnable is set: every
// Config.LeaderImbalanceCheckInterval it runs rebalance on the latest
// Image (not during a controlled shutdown). It returns when the Manager
// closes.
func (m *Manager) rebalanceLoop() {
	defer m.wg.Done()
	ticker := time.NewTicker(m.cfg.LeaderImbalanceCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-ticker.C:
		}
		if img, _ := m.cl.Current(); img != nil && !m.draining.Load() {
			m.rebalance(img)
		}
	}
}

// rebalance moves back to this broker the leadership of the partitions it
// is the preferred replica of (the first of the assignment) and does not
// lead, if more than Config.LeaderImbalancePerBrokerPercentage percent of
// the partitions it is preferred for are led by others (Kafka's per-broker
// imbalance ratio). Only partitions with a live leader, and this broker
// live and in the ISR, move: the preferred replica itself writes the change
// with AlterPartition from the partition epoch of img (leader epoch + 1,
// ISR unchanged), so that exactly one broker acts for a partition and a
// stale decision is refused by the compare-and-set (it is decided again at
// the next check). Partitions without a live leader are left to the
// failover election. Called from rebalanceLoop only.
func (m *Manager) rebalance(img *cluster.Image) {
	if !img.IsLive(m.brokerID) {
		return
	}
	var preferred, notLeading int
	var moves []metadata.Partition
	type tp struct {
		topic string
		index int32
	}
	open := map[tp]bool{}
	for _, p := range m.parts.Partitions() {
		open[tp{p.Topic(), p.Index()}] = true
	}
	// The ratio counts every partition of the image this broker is the
	// preferred replica of, whether or not its replica is open here yet
	// (counting only open ones made a fresh broker's ratio jump).
	for _, name := range img.TopicNames() {
		t, _ := img.Topic(name)
		for _, part := range t.Partitions {
			if len(part.Replicas) == 0 || part.Replicas[0] != m.brokerID {
				continue
			}
			preferred++
			if part.Leader == m.brokerID {
				continue
			}
			notLeading++
			if part.Leader == metadata.NoLeader || !img.IsLive(part.Leader) || !slices.Contains(part.ISR, m.brokerID) {
				continue
			}
			if open[tp{part.Topic, part.Partition}] {
				moves = append(moves, part)
			}
		}
	}
	if len(moves) == 0 || notLeading*100 <= m.cfg.LeaderImbalancePerBrokerPercentage*preferred {
		return
	}
	m.log.Info("replica: leadership imbalance; taking back the partitions this broker is the preferred replica of",
		"preferred_partitions", preferred, "led_by_others", notLeading, "movable", len(moves), "threshold_percent", m.cfg.LeaderImbalancePerBrokerPercentage)
	for _, part := range moves {
		if m.ctx.Err() != nil {
			return
		}
		m.alter(metadata.PartitionChange{
			Topic: part.Topic, Partition: part.Partition, ExpectedPartitionEpoch: part.PartitionEpoch,
			Leader: m.brokerID, ISR: slices.Clone(part.ISR),
		}, "preferred_leader_election", "old_leader", part.Leader, "old_leader_epoch", part.LeaderEpoch, "isr", part.ISR)
	}
}
