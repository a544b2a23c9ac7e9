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
// The metadata contract has no place for a reassignment's adding and
// removing replicas (metadata.Partition has only Replicas, Leader, ISR and
// the epochs; topic configs are validated by topicconfig.Resolve, which
// refuses unknown names, and SetTopicConfigs is no compare-and-set), yet
// every broker must be able to see and finish a reassignment started on
// any other. So the state lives in the partition's replica list, written
// with AlterPartition's compare-and-set like every other partition change:
//
//	Replicas = target ++ (original − target) ++ [marker]
//
// (Kafka's order of the full replica set, target first), where marker is a
// reserved broker id ReassignMarkerBase + len(target) + addingMask<<4 +
// order<<12: addingMask has bit i set when target[i] was not an original
// replica, and order is the Lehmer code of the original replicas' order
// relative to (target − adding) ++ removing, so that a cancellation restores
// them exactly. The marker is no broker (ids from ReassignMarkerBase up are
// reserved): no broker hosts it, it is never live, so it never joins the ISR
// or leads. DecodeReassignment reads it back.

// ReassignMarkerBase is the lowest reserved broker id: a replica id at or
// above it in a partition's replica list is the reassignment marker (see
// DecodeReassignment). Broker ids of real brokers must be below it.
const ReassignMarkerBase int32 = 1 << 30

// MaxReassignReplicas is the largest target, and original, replica set a
// reassignment accepts (the marker encodes one bit per target replica and
// the order of the original replicas in 30 bits).
const MaxReassignReplicas = 8

// ErrNoReassignmentInProgress: a cancellation named a partition that has
// no reassignment in progress (NO_REASSIGNMENT_IN_PROGRESS).
var ErrNoReassignmentInProgress = errors.New("cluster: no reassignment in progress")

// Reassignment is a partition's reassignment in progress, as decoded from
// its replica list.
type Reassignment struct {
	TopicPartition
	// Replicas is the full replica set (target first), without the marker.
	Replicas []int32
	// Target is the replica set the partition moves to.
	Target []int32
	// Original is the replica set before the reassignment, in its order.
	Original []int32
	// Adding are Target − Original, Removing Original − Target.
	Adding, Removing []int32
}

// DecodeReassignment returns the reassignment in progress of p, if its
// replica list carries one. It is pure and safe for concurrent use.
func DecodeReassignment(p metadata.Partition) (Reassignment, bool) {
	n := len(p.Replicas)
	if n < 2 || p.Replicas[n-1] < ReassignMarkerBase {
		return Reassignment{}, false
	}
	code := p.Replicas[n-1] - ReassignMarkerBase
	full := p.Replicas[:n-1]
	nt, mask, order := int(code&0xf), code>>4&0xff, int(code>>12)
	if nt == 0 || nt > len(full) {
		return Reassignment{}, false
	}
	r := Reassignment{TopicPartition: TopicPartition{Topic: p.Topic, Partition: p.Partition}, Replicas: slices.Clone(full), Target: slices.Clone(full[:nt])}
	var canon []int32
	for i, id := range r.Target {
		if mask&(1<<i) != 0 {
			r.Adding = append(r.Adding, id)
		} else {
			canon = append(canon, id)
		}
	}
	r.Removing = slices.Clone(full[nt:])
	canon = append(canon, r.Removing...)
	r.Original = unrankOrder(canon, order)
	return r, true
}

// rankOrder is the Lehmer code of seq's order relative to canon (the
// same ids): the index among permutations of canon.
func rankOrder(canon, seq []int32) int32 {
	rest := slices.Clone(canon)
	var code int32
	for _, id := range seq {
		i := slices.Index(rest, id)
		code = code*int32(len(rest)) + int32(i)
		rest = slices.Delete(rest, i, i+1)
	}
	return code
}

// unrankOrder is the inverse of rankOrder: the permutation of canon with
// Lehmer code code (canon itself for an out-of-range code).
func unrankOrder(canon []int32, code int) []int32 {
	n := len(canon)
	digits := make([]int, n)
	for k := n - 1; k >= 0; k-- { // digit k has base n-k
		base := n - k
		digits[k] = code % base
		code /= base
	}
	if code != 0 {
		return slices.Clone(canon)
	}
	rest := slices.Clone(canon)
	out := make([]int32, 0, n)
	for _, d := range digits {
		out = append(out, rest[d])
		rest = slices.Delete(rest, d, d+1)
	}
	return out
}

// IsReassignMarker reports whether a replica id is a reassignment marker
// rather than a broker (for answers that list replicas to clients).
func IsReassignMarker(id int32) bool { return id >= ReassignMarkerBase }

// encodeReassignment is the replica list of a reassignment from original
// to target (both valid, target at most MaxReassignReplicas long).
func encodeReassignment(original, target []int32) []int32 {
	out := slices.Clone(target)
	var mask int32
	var canon []int32
	for i, id := range target {
		if !slices.Contains(original, id) {
			mask |= 1 << i
		} else {
			canon = append(canon, id)
		}
	}
	for _, id := range original {
		if !slices.Contains(target, id) {
			out = append(out, id)
			canon = append(canon, id)
		}
	}
	return append(out, ReassignMarkerBase+int32(len(target))+mask<<4+rankOrder(canon, original)<<12)
}

// CheckReassignTarget checks a target replica set against img: non-empty,
// at most MaxReassignReplicas, distinct, and every broker registered, not
// fenced and below ReassignMarkerBase. The error wraps
// ErrInvalidReplicaAssignment.
func CheckReassignTarget(img *Image, target []int32) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidReplicaAssignment, fmt.Sprintf(format, args...))
	}
	if len(target) == 0 {
		return bad("empty replica set")
	}
	if len(target) > MaxReassignReplicas {
		return bad("%d replicas, at most %d", len(target), MaxReassignReplicas)
	}
	for i, id := range target {
		if slices.Contains(target[:i], id) {
			return bad("duplicate replica %d", id)
		}
		b, ok := img.Broker(id)
		switch {
		case id < 0 || id >= ReassignMarkerBase || !ok:
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
// Starting: the replica list becomes target ++ (original − target) ++
// marker (see DecodeReassignment), original being the current replicas, or
// the original replicas of a reassignment already in progress (which the
// new one replaces). The partition's leader drives it to completion
// (package replica). A target that is a permutation of the original
// replicas is written at once, without a reassignment (no data moves).
//
// Cancelling: the replica list goes back to the original replicas; the
// leader stays if it is one of them, else the first live in-sync original
// replica leads.
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
				"cancel", target == nil, "target", target, "replicas_from", part.Replicas, "replicas_to", got.Replicas, "leader", got.Leader, "isr", got.ISR)
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
	cur, inProgress := DecodeReassignment(part)
	original := part.Replicas
	if inProgress {
		original = cur.Original
	}
	var replicas []int32
	switch {
	case target == nil && !inProgress:
		return change, ErrNoReassignmentInProgress
	case target == nil:
		replicas = original
	default:
		if err := CheckReassignTarget(img, target); err != nil {
			return change, err
		}
		if len(original) > MaxReassignReplicas {
			return change, fmt.Errorf("%w: the partition has %d replicas, a reassignment handles at most %d", ErrInvalidReplicaAssignment, len(original), MaxReassignReplicas)
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
			replicas = slices.Clone(target)
		default:
			replicas = encodeReassignment(original, target)
		}
	}
	change.Replicas = replicas
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
				if r, ok := DecodeReassignment(p); ok {
					out = append(out, r)
				}
			}
		}
		return out, nil
	}
	for _, tp := range parts {
		if p, ok := img.Partition(tp.Topic, tp.Partition); ok {
			if r, ok := DecodeReassignment(p); ok {
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
// becomes the target, with the ISR restricted to it. The change is from
// p's partition epoch (the compare-and-set refuses it if stale). Pure.
func ReassignStep(img *Image, p metadata.Partition) (metadata.PartitionChange, bool) {
	r, ok := DecodeReassignment(p)
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
