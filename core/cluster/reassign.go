package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Partition replica reassignment (Kafka's KIP-455, simplified).
//
// The state of a reassignment in progress is the partition's, as Kafka's
// PartitionRecord keeps it: Replicas is the full replica set, Adding the
// replicas being added and Removing those being removed
// (metadata.Partition), written with AlterPartition's compare-and-set like
// every other partition change, so every broker sees, and can finish or
// cancel, a reassignment started on any other. Starting a reassignment of
// replicas R to target T writes
//
//	Replicas = T ++ (R − T), Adding = T − R, Removing = R − T
//
// (Kafka's order of the full replica set, target first). Then the target
// is Replicas − Removing and the replicas before the reassignment
// Replicas − Adding, in Replicas' order (as Kafka restores them on
// cancellation: R's members, not necessarily in R's order).

// ErrNoReassignmentInProgress: a cancellation named a partition that has
// no reassignment in progress (NO_REASSIGNMENT_IN_PROGRESS).
var ErrNoReassignmentInProgress = errors.New("cluster: no reassignment in progress")

// Reassignment is a partition's reassignment in progress, as read from its
// state (ReassignmentOf).
type Reassignment struct {
	TopicPartition
	// Replicas is the full replica set (target first).
	Replicas []int32
	// Target is the replica set the partition moves to: Replicas − Removing.
	Target []int32
	// Original is the replica set before the reassignment: Replicas −
	// Adding, in Replicas' order.
	Original []int32
	// Adding are Target − Original, Removing Original − Target.
	Adding, Removing []int32
}

// ReassignmentOf returns the reassignment in progress of p, if it has one
// (non-empty Adding or Removing). It is pure and safe for concurrent use.
func ReassignmentOf(p metadata.Partition) (Reassignment, bool) {
	if len(p.Adding) == 0 && len(p.Removing) == 0 {
		return Reassignment{}, false
	}
	r := Reassignment{TopicPartition: TopicPartition{Topic: p.Topic, Partition: p.Partition},
		Replicas: slices.Clone(p.Replicas), Adding: slices.Clone(p.Adding), Removing: slices.Clone(p.Removing)}
	r.Target = without(p.Replicas, p.Removing)
	r.Original = without(p.Replicas, p.Adding)
	return r, true
}

// TargetReplicas returns the replicas p has once its reassignment in
// progress, if any, completes: Replicas − Removing (its Replicas when none).
// Its length is the partition's replication factor during a reassignment.
// Pure.
func TargetReplicas(p metadata.Partition) []int32 {
	return without(p.Replicas, p.Removing)
}

// without returns ids minus drop, in ids' order (a new slice).
func without(ids, drop []int32) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(drop, id) {
			out = append(out, id)
		}
	}
	return out
}

// reassignmentChange sets change's Replicas, Adding and Removing to the
// reassignment from original to target (both valid).
func reassignmentChange(change *metadata.PartitionChange, original, target []int32) {
	change.Replicas = slices.Clone(target)
	for _, id := range target {
		if !slices.Contains(original, id) {
			change.Adding = append(change.Adding, id)
		}
	}
	for _, id := range original {
		if !slices.Contains(target, id) {
			change.Replicas = append(change.Replicas, id)
			change.Removing = append(change.Removing, id)
		}
	}
}

// CheckReassignTarget checks a target replica set against img: non-empty,
// distinct, and every broker registered and not fenced. The error wraps
// ErrInvalidReplicaAssignment.
func CheckReassignTarget(img *Image, target []int32) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidReplicaAssignment, fmt.Sprintf(format, args...))
	}
	if len(target) == 0 {
		return bad("empty replica set")
	}
	for i, id := range target {
		if slices.Contains(target[:i], id) {
			return bad("duplicate replica %d", id)
		}
		b, ok := img.Broker(id)
		switch {
		case id < 0 || !ok:
			return bad("unknown broker %d", id)
		case b.Fenced:
			return bad("broker %d is fenced", id)
		}
	}
	return nil
}

// maxReassignAttempts bounds the compare-and-set retries of one partition
// whose partition epoch keeps moving under a reassignment request.
const maxReassignAttempts = 5

// AlterReassignment starts, replaces or (target nil) cancels the
// reassignment of one partition, as AlterPartitionReassignments asks. It
// first waits until this broker's Image includes every write committed
// before the call, then writes the new replica list with AlterPartition
// (compare-and-set on the partition epoch; a stale one decides again from
// the newer Image, a few times) and returns once this broker's Image holds
// it. The leader and ISR are kept, restricted to the new replica list.
//
// Starting: the replica list becomes target ++ (original − target), with
// Adding target − original and Removing original − target (see
// ReassignmentOf), original being the current replicas, or the original
// replicas of a reassignment already in progress (which the new one
// replaces). The partition's leader drives it to completion
// (package replica). A target that is a permutation of the original
// replicas is written at once, without a reassignment (no data moves).
//
// Cancelling: the replica list goes back to the original replicas
// (Replicas − Adding, in that order, as Kafka restores them) and Adding
// and Removing are cleared; the leader stays if it is one of them, else
// the first live in-sync original replica leads.
//
// Errors: ErrUnknownTopic; ErrNoReassignmentInProgress (cancelling with
// none); ErrInvalidReplicaAssignment (CheckReassignTarget, or no in-sync
// replica would be left); ErrInvalidReplicationFactor when keepRF is set
// and target's size differs from the original's; AlterPartition's and
// ctx's. Safe for concurrent use, on any broker.
func (c *Cluster) AlterReassignment(ctx context.Context, tp TopicPartition, target []int32, keepRF bool) error {
	if _, err := c.firstImage(ctx); err != nil {
		return err
	}
	if err := c.barrier(ctx); err != nil {
		return fmt.Errorf("cluster: reassign %s-%d: %w", tp.Topic, tp.Partition, err)
	}
	var err error
	for range maxReassignAttempts {
		img := c.Image()
		part, ok := img.Partition(tp.Topic, tp.Partition)
		if !ok {
			return fmt.Errorf("cluster: reassign %s-%d: %w", tp.Topic, tp.Partition, ErrUnknownTopic)
		}
		var change metadata.PartitionChange
		change, err = reassignChange(img, part, target, keepRF)
		if err != nil {
			return fmt.Errorf("cluster: reassign %s-%d: %w", tp.Topic, tp.Partition, err)
		}
		if change.Replicas == nil {
			return nil // nothing to change
		}
		var got metadata.Partition
		got, err = c.AlterPartition(ctx, change)
		if err == nil {
			c.log.Info("cluster: partition reassignment changed", "topic", tp.Topic, "partition", tp.Partition,
				"cancel", target == nil, "target", target, "replicas_from", part.Replicas, "replicas_to", got.Replicas, "adding", got.Adding, "removing", got.Removing, "leader", got.Leader, "isr", got.ISR)
			return nil
		}
		if !errors.Is(err, metadata.ErrStaleEpoch) || ctx.Err() != nil {
			return err
		}
		if berr := c.barrier(ctx); berr != nil {
			return fmt.Errorf("cluster: reassign %s-%d: %w", tp.Topic, tp.Partition, berr)
		}
	}
	return err
}

// reassignChange decides one AlterReassignment from img: the change to
// write (Replicas nil: nothing to do), or why there is none.
func reassignChange(img *Image, part metadata.Partition, target []int32, keepRF bool) (metadata.PartitionChange, error) {
	change := metadata.PartitionChange{Topic: part.Topic, Partition: part.Partition, ExpectedPartitionEpoch: part.PartitionEpoch}
	cur, inProgress := ReassignmentOf(part)
	original := part.Replicas
	if inProgress {
		original = cur.Original
	}
	switch {
	case target == nil && !inProgress:
		return change, ErrNoReassignmentInProgress
	case target == nil:
		change.Replicas = slices.Clone(original)
	default:
		if err := CheckReassignTarget(img, target); err != nil {
			return change, err
		}
		if keepRF && len(target) != len(original) {
			return change, fmt.Errorf("%w: the reassignment changes the replication factor from %d to %d", ErrInvalidReplicationFactor, len(original), len(target))
		}
		sameSet := len(target) == len(original)
		for _, id := range target {
			sameSet = sameSet && slices.Contains(original, id)
		}
		switch {
		case sameSet && !inProgress && slices.Equal(target, part.Replicas):
			return change, nil
		case sameSet:
			change.Replicas = slices.Clone(target)
		default:
			reassignmentChange(&change, original, target)
		}
	}
	replicas := change.Replicas
	for _, id := range part.ISR {
		if slices.Contains(replicas, id) {
			change.ISR = append(change.ISR, id)
		}
	}
	change.Leader = part.Leader
	if !slices.Contains(replicas, part.Leader) {
		change.Leader = metadata.NoLeader
		for _, id := range change.ISR {
			if img.IsLive(id) {
				change.Leader = id
				break
			}
		}
	}
	if len(change.ISR) == 0 || change.Leader == metadata.NoLeader && part.Leader != metadata.NoLeader {
		return change, fmt.Errorf("%w: no live in-sync replica would be left among %v (ISR %v)", ErrInvalidReplicaAssignment, replicas, part.ISR)
	}
	return change, nil
}

// ListReassignments returns the reassignments in progress of parts (nil:
// of every partition of every topic, in topic name order), read from this
// broker's Image once it includes every write committed before the call.
// Partitions that are unknown or have none are left out. Safe for
// concurrent use.
func (c *Cluster) ListReassignments(ctx context.Context, parts []TopicPartition) ([]Reassignment, error) {
	if _, err := c.firstImage(ctx); err != nil {
		return nil, err
	}
	if err := c.barrier(ctx); err != nil {
		return nil, fmt.Errorf("cluster: list reassignments: %w", err)
	}
	img := c.Image()
	var out []Reassignment
	if parts == nil {
		for _, name := range img.TopicNames() {
			t, _ := img.Topic(name)
			for _, p := range t.Partitions {
				if r, ok := ReassignmentOf(p); ok {
					out = append(out, r)
				}
			}
		}
		return out, nil
	}
	for _, tp := range parts {
		if p, ok := img.Partition(tp.Topic, tp.Partition); ok {
			if r, ok := ReassignmentOf(p); ok {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// ReassignStep is what the leader of a partition with a reassignment in
// progress does next, decided from img (package replica calls it on the
// leader only): nothing (ok false) until every target replica is in the
// ISR; then, if the leader is being removed, leadership moves to the first
// live in-sync target replica (ISR unchanged); else the replica list
// becomes the target (Adding and Removing cleared), with the ISR
// restricted to it. A leader move keeps Replicas nil, so the reassignment
// stays in progress. The change is from
// p's partition epoch (the compare-and-set refuses it if stale). Pure.
func ReassignStep(img *Image, p metadata.Partition) (metadata.PartitionChange, bool) {
	r, ok := ReassignmentOf(p)
	if !ok || p.Leader == metadata.NoLeader {
		return metadata.PartitionChange{}, false
	}
	for _, id := range r.Target {
		if !slices.Contains(p.ISR, id) {
			return metadata.PartitionChange{}, false
		}
	}
	change := metadata.PartitionChange{Topic: p.Topic, Partition: p.Partition, ExpectedPartitionEpoch: p.PartitionEpoch}
	if !slices.Contains(r.Target, p.Leader) {
		for _, id := range r.Target {
			if img.IsLive(id) {
				change.Leader, change.ISR = id, slices.Clone(p.ISR)
				return change, true
			}
		}
		return metadata.PartitionChange{}, false
	}
	change.Leader, change.Replicas = p.Leader, slices.Clone(r.Target)
	for _, id := range p.ISR {
		if slices.Contains(r.Target, id) {
			change.ISR = append(change.ISR, id)
		}
	}
	return change, true
}
