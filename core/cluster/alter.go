package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// AlterPartition changes one partition's leader and ISR through the
// backend's compare-and-set (metadata.Backend.AlterPartition) and returns
// the partition as committed, once this broker's Image includes it. It is
// the only path by which replication (ISR shrink and expand by the leader,
// leader failover) changes partition state.
//
// The change applies only if change.ExpectedPartitionEpoch is the
// partition's current partition epoch: otherwise the error wraps
// metadata.ErrStaleEpoch, and the caller re-reads the Image (which may
// already hold the newer state) and decides again. A write that fails with
// metadata.ErrUnavailable is retried within ctx; if an earlier attempt did
// commit, the retry's ErrStaleEpoch is recognised (the Image shows exactly
// the requested leader and ISR at the next partition epoch) and the call
// succeeds. Other errors: metadata.ErrUnknownTopic (wrapped in
// ErrUnknownTopic) for a partition that does not exist, metadata.ErrInvalid
// for a leader or ISR member that is not a replica, ErrClosed after Close.
// If the change committed but the Image did not catch up before ctx ended,
// the partition is returned with an error wrapping ctx's error. Safe for
// concurrent use: of concurrent changes from the same partition epoch, on
// any brokers, exactly one succeeds.
func (c *Cluster) AlterPartition(ctx context.Context, change metadata.PartitionChange) (metadata.Partition, error) {
	if _, err := c.firstImage(ctx); err != nil {
		return metadata.Partition{}, err
	}
	var p metadata.Partition
	retried, err := c.write(ctx, func(ctx context.Context) error {
		var err error
		p, err = c.backend.AlterPartition(ctx, change)
		return err
	})
	what := fmt.Sprintf("alter partition %s-%d at partition epoch %d", change.Topic, change.Partition, change.ExpectedPartitionEpoch)
	switch {
	case err == nil:
	case errors.Is(err, metadata.ErrStaleEpoch) && retried && c.committed(ctx, change, &p):
		// An earlier attempt committed.
	case errors.Is(err, metadata.ErrUnknownTopic):
		return metadata.Partition{}, fmt.Errorf("cluster: %s: %w: %w", what, ErrUnknownTopic, err)
	default:
		return metadata.Partition{}, fmt.Errorf("cluster: %s: %w", what, err)
	}
	if _, err := c.waitImage(ctx, what, func(img *Image) bool {
		cur, ok := img.Partition(p.Topic, p.Partition)
		return !ok || cur.PartitionEpoch >= p.PartitionEpoch
	}); err != nil {
		return p, fmt.Errorf("cluster: %s committed: %w", what, err)
	}
	return p, nil
}

// committed reports whether change was committed by an earlier attempt:
// the Image (after waiting briefly for it to catch up with the backend)
// holds exactly its leader and ISR at the next partition epoch. It fills
// *p with that partition.
func (c *Cluster) committed(ctx context.Context, change metadata.PartitionChange, p *metadata.Partition) bool {
	if err := c.barrier(ctx); err != nil {
		return false
	}
	cur, ok := c.Image().Partition(change.Topic, change.Partition)
	if !ok || cur.PartitionEpoch != change.ExpectedPartitionEpoch+1 || cur.Leader != change.Leader || !slices.Equal(cur.ISR, change.ISR) {
		return false
	}
	if change.Replicas != nil && !slices.Equal(cur.Replicas, change.Replicas) {
		return false
	}
	*p = cur
	return true
}
