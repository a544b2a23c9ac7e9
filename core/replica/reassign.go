package replica

import (
	"github.com/chronik-go/chronik/core/cluster"
)

// reassign drives the reassignments in progress of the partitions this
// broker leads (see cluster.ReassignmentOf for how a reassignment is stored
// in the partition's metadata, and cluster.ReassignStep for the rule): once
// every target replica has caught up and joined the ISR (ISR management
// adds the new replicas, which the partition Manager of their brokers
// opened and which fetch from this leader), leadership first moves to the
// first live in-sync target replica if this broker is being removed, and
// then the new leader writes the target as the replica list; brokers no
// longer listed close and delete their copies (partition.Manager). Each
// step is an AlterPartition from the partition epoch of img, so a stale
// decision (a concurrent ISR change, cancellation or new request) is
// refused and decided again from the next image. Because the state is in
// the image, whichever broker leads the partition finishes the
// reassignment, whichever broker took the request. Called from run only.
func (m *Manager) reassign(img *cluster.Image) {
	if !img.IsLive(m.brokerID) {
		return
	}
	for _, p := range m.parts.Partitions() {
		if _, ok := p.LeaderState(); !ok {
			continue
		}
		part, ok := img.Partition(p.Topic(), p.Index())
		if !ok || part.Leader != m.brokerID {
			continue
		}
		change, ok := cluster.ReassignStep(img, part)
		if !ok {
			continue
		}
		what := "reassignment_complete"
		if change.Replicas == nil {
			what = "reassignment_leader_move"
		}
		m.alter(change, what, "replicas_from", part.Replicas, "adding", part.Adding, "removing", part.Removing, "replicas_to", change.Replicas, "leader_to", change.Leader, "isr", part.ISR)
	}
}
