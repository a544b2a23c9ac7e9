package metadata

import (
	"errors"
	"fmt"
	"slices"
)

// Validation of requests, shared by every backend so that all of them
// refuse the same requests with the same words. Each function looks at the
// request only (never at a State), is safe for concurrent use, and returns
// nil or an error wrapping ErrInvalid that names what is wrong.

// ValidateTopicSpec checks a CreateTopic request: a non-empty name, a
// non-zero id, at least one partition, and a valid assignment for each
// partition (see ValidateAssignment).
func ValidateTopicSpec(spec TopicSpec) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("metadata: create topic %q: %s: %w", spec.Name, fmt.Sprintf(format, args...), ErrInvalid)
	}
	switch {
	case spec.Name == "":
		return bad("empty name")
	case spec.ID.IsZero():
		return bad("zero topic id")
	case len(spec.Partitions) == 0:
		return bad("no partitions")
	}
	for i, p := range spec.Partitions {
		if err := checkAssignment(p.Replicas, p.Leader, p.ISR); err != nil {
			return bad("partition %d: %v", i, err)
		}
	}
	return nil
}

// ValidateNewPartitions checks a TopicUpdater.AddPartitions request for
// topic: at least one partition, and a valid assignment for each (see
// ValidateAssignment).
func ValidateNewPartitions(topic string, parts []PartitionSpec) error {
	if len(parts) == 0 {
		return fmt.Errorf("metadata: add partitions to %q: no partitions: %w", topic, ErrInvalid)
	}
	for i, p := range parts {
		if err := checkAssignment(p.Replicas, p.Leader, p.ISR); err != nil {
			return fmt.Errorf("metadata: add partitions to %q: new partition %d: %v: %w", topic, i, err, ErrInvalid)
		}
	}
	return nil
}

// ValidateAssignment checks one partition's assignment (of a new
// partition, or the result of an AlterPartition): replicas non-empty,
// non-negative and distinct; leader NoLeader or a replica; isr distinct
// replicas (it may be empty).
func ValidateAssignment(replicas []int32, leader int32, isr []int32) error {
	if err := checkAssignment(replicas, leader, isr); err != nil {
		return fmt.Errorf("%v: %w", err, ErrInvalid)
	}
	return nil
}

// checkAssignment is ValidateAssignment with an error that does not wrap
// ErrInvalid (callers add the context and the sentinel).
func checkAssignment(replicas []int32, leader int32, isr []int32) error {
	if len(replicas) == 0 {
		return errors.New("no replicas")
	}
	seen := make(map[int32]bool, len(replicas))
	for _, r := range replicas {
		if r < 0 {
			return fmt.Errorf("negative replica %d", r)
		}
		if seen[r] {
			return fmt.Errorf("duplicate replica %d", r)
		}
		seen[r] = true
	}
	if leader != NoLeader && !seen[leader] {
		return fmt.Errorf("leader %d is not a replica", leader)
	}
	inISR := make(map[int32]bool, len(isr))
	for _, r := range isr {
		if !seen[r] {
			return fmt.Errorf("ISR member %d is not a replica", r)
		}
		if inISR[r] {
			return fmt.Errorf("duplicate ISR member %d", r)
		}
		inISR[r] = true
	}
	return nil
}

// ValidateChange checks an AlterPartition change ch against the partition's
// current state cur (its epochs are not compared: ErrStaleEpoch is the
// caller's) and returns the partition's replicas, adding and removing
// replicas after it: ch's when ch.Replicas is non-nil, else cur's (clones,
// nil when empty). It checks the result with ValidateAssignment, that
// adding and removing are distinct replicas, disjoint, and that a change
// with nil Replicas carries no Adding or Removing. Errors wrap ErrInvalid.
func ValidateChange(cur Partition, ch PartitionChange) (replicas, adding, removing []int32, err error) {
	replicas, adding, removing = cur.Replicas, cur.Adding, cur.Removing
	if ch.Replicas != nil {
		replicas, adding, removing = ch.Replicas, ch.Adding, ch.Removing
	} else if len(ch.Adding) > 0 || len(ch.Removing) > 0 {
		return nil, nil, nil, fmt.Errorf("adding or removing replicas without a new replica set: %w", ErrInvalid)
	}
	if err := checkAssignment(replicas, ch.Leader, ch.ISR); err != nil {
		return nil, nil, nil, fmt.Errorf("%v: %w", err, ErrInvalid)
	}
	if err := checkReassignment(replicas, adding, removing); err != nil {
		return nil, nil, nil, fmt.Errorf("%v: %w", err, ErrInvalid)
	}
	return slices.Clone(replicas), nilIfEmpty(adding), nilIfEmpty(removing), nil
}

// checkReassignment checks adding and removing against replicas (already
// checked): subsets, distinct, disjoint.
func checkReassignment(replicas, adding, removing []int32) error {
	seen := make(map[int32]string, len(adding)+len(removing))
	for _, l := range []struct {
		name string
		ids  []int32
	}{{"adding", adding}, {"removing", removing}} {
		for _, r := range l.ids {
			if !slices.Contains(replicas, r) {
				return fmt.Errorf("%s replica %d is not a replica", l.name, r)
			}
			if prev, ok := seen[r]; ok {
				if prev == l.name {
					return fmt.Errorf("duplicate %s replica %d", l.name, r)
				}
				return fmt.Errorf("replica %d is both adding and removing", r)
			}
			seen[r] = l.name
		}
	}
	return nil
}

func nilIfEmpty(ids []int32) []int32 {
	if len(ids) == 0 {
		return nil
	}
	return slices.Clone(ids)
}
