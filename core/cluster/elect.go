package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// ElectionType is the kind of leader election ElectLeaders runs (Kafka's
// ElectLeaders election_type).
type ElectionType int8

const (
	// ElectPreferred moves leadership to the partition's preferred replica
	// (the first of its assignment) when it is live and in the ISR.
	ElectPreferred ElectionType = 0
	// ElectUnclean elects a leader for a partition that has no live
	// leader: the first live ISR member in assignment order, or, with no
	// ISR member live, the first live replica (alone in the ISR;
	// acknowledged records may be lost).
	ElectUnclean ElectionType = 1
)

// Election outcomes that are not failures of the backend. Each also
// matches nothing else; the protocol layer answers the Kafka code named.
var (
	// ErrElectionNotNeeded: the partition already has the leader the
	// election would choose (ELECTION_NOT_NEEDED).
	ErrElectionNotNeeded = errors.New("cluster: leader election not needed")
	// ErrPreferredLeaderNotAvailable: the preferred replica is not live or
	// not in the ISR (PREFERRED_LEADER_NOT_AVAILABLE).
	ErrPreferredLeaderNotAvailable = errors.New("cluster: preferred leader not available")
	// ErrEligibleLeadersNotAvailable: no replica of the partition is live
	// (ELIGIBLE_LEADERS_NOT_AVAILABLE).
	ErrEligibleLeadersNotAvailable = errors.New("cluster: eligible leaders not available")
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ElectionResult is the outcome of one partition's election: Err nil
// means State is the partition as committed with the new leader.
type ElectionResult struct {
	TopicPartition
	State metadata.Partition
	Err   error
}

// maxElectionAttempts bounds the compare-and-set retries of one partition
// whose partition epoch keeps moving under the election.
const maxElectionAttempts = 5

// ElectLeaders runs a leader election of type typ on each partition of
// parts (nil: every partition of every topic, in topic name order, leaving
// out those whose election is not needed) and returns one result per
// partition, in order. It first waits until this broker's Image includes
// every write committed before the call, then decides each partition from
// the Image and writes it with AlterPartition (leader epoch + 1, ISR
// unchanged for a clean election); a stale partition epoch re-reads the
// Image and decides again, a few times. Per-partition errors:
// ErrUnknownTopic, ErrElectionNotNeeded, ErrPreferredLeaderNotAvailable,
// ErrEligibleLeadersNotAvailable, or AlterPartition's. The call itself
// fails (nil results) with ErrInvalidRequest for an unknown election type,
// and with the backend's or ctx's error when the Image cannot be brought up
// to date. Safe for concurrent use, on any broker: the compare-and-set
// makes concurrent elections and ISR changes exclusive.
func (c *Cluster) ElectLeaders(ctx context.Context, typ ElectionType, parts []TopicPartition) ([]ElectionResult, error) {
	if typ != ElectPreferred && typ != ElectUnclean {
		return nil, fmt.Errorf("%w: unknown election type %d", ErrInvalidRequest, typ)
	}
	if _, err := c.firstImage(ctx); err != nil {
		return nil, err
	}
	if err := c.barrier(ctx); err != nil {
		return nil, fmt.Errorf("cluster: elect leaders: %w", err)
	}
	all := parts == nil
	if all {
		img := c.Image()
		for _, name := range img.TopicNames() {
			t, _ := img.Topic(name)
			for _, p := range t.Partitions {
				parts = append(parts, TopicPartition{Topic: name, Partition: p.Partition})
			}
		}
	}
	out := make([]ElectionResult, 0, len(parts))
	for _, tp := range parts {
		p, err := c.electLeader(ctx, typ, tp)
		if all && errors.Is(err, ErrElectionNotNeeded) {
			continue
		}
		out = append(out, ElectionResult{TopicPartition: tp, State: p, Err: err})
	}
	return out, nil
}

// electLeader runs one partition's election.
func (c *Cluster) electLeader(ctx context.Context, typ ElectionType, tp TopicPartition) (metadata.Partition, error) {
	var err error
	for range maxElectionAttempts {
		part, ok := c.Image().Partition(tp.Topic, tp.Partition)
		if !ok {
			return metadata.Partition{}, fmt.Errorf("cluster: elect leader of %s-%d: %w", tp.Topic, tp.Partition, ErrUnknownTopic)
		}
		var change metadata.PartitionChange
		change, err = electionChange(c.Image(), typ, part)
		if err != nil {
			return part, fmt.Errorf("cluster: elect leader of %s-%d: %w", tp.Topic, tp.Partition, err)
		}
		var got metadata.Partition
		got, err = c.AlterPartition(ctx, change)
		if err == nil {
			c.log.Info("cluster: leader elected", "topic", tp.Topic, "partition", tp.Partition, "type", typ,
				"old_leader", part.Leader, "leader", got.Leader, "leader_epoch", got.LeaderEpoch, "isr", got.ISR)
			return got, nil
		}
		if !errors.Is(err, metadata.ErrStaleEpoch) || ctx.Err() != nil {
			return got, err
		}
		if berr := c.barrier(ctx); berr != nil {
			return metadata.Partition{}, fmt.Errorf("cluster: elect leader of %s-%d: %w", tp.Topic, tp.Partition, berr)
		}
	}
	return metadata.Partition{}, err
}

// electionChange decides one partition's election from img: the change to
// write, or why there is none.
func electionChange(img *Image, typ ElectionType, part metadata.Partition) (metadata.PartitionChange, error) {
	change := metadata.PartitionChange{Topic: part.Topic, Partition: part.Partition, ExpectedPartitionEpoch: part.PartitionEpoch}
	hasLeader := part.Leader != metadata.NoLeader && img.IsLive(part.Leader)
	switch typ {
	case ElectPreferred:
		if len(part.Replicas) == 0 {
			return change, ErrPreferredLeaderNotAvailable
		}
		preferred := part.Replicas[0]
		if part.Leader == preferred && hasLeader {
			return change, ErrElectionNotNeeded
		}
		if !img.IsLive(preferred) || !slices.Contains(part.ISR, preferred) {
			return change, ErrPreferredLeaderNotAvailable
		}
		change.Leader, change.ISR = preferred, slices.Clone(part.ISR)
		return change, nil
	default: // ElectUnclean
		if hasLeader {
			return change, ErrElectionNotNeeded
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
		switch {
		case len(liveISR) > 0:
			change.Leader, change.ISR = liveISR[0], liveISR
		case len(live) > 0:
			change.Leader, change.ISR = live[0], []int32{live[0]}
		default:
			return change, ErrEligibleLeadersNotAvailable
		}
		return change, nil
	}
}
