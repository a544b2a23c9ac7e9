package protocol

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
)

// AlterPartitionReassignments (key 45): versions 0-1.
//
// Behaviour (Kafka's KIP-455, simplified):
//   - Any broker answers: there is no controller; each partition's change
//     is a compare-and-set of its state through the metadata backend
//     (cluster.Cluster.AlterReassignment), decided from this broker's
//     image once it caught up with the backend.
//   - Replicas T for a partition with replicas R start a reassignment: the
//     replica list becomes T ++ (R−T), with adding replicas T−R and
//     removing replicas R−T (metadata.Partition.Adding/Removing, Kafka's
//     PartitionRecord; see cluster.ReassignmentOf). The new replicas'
//     brokers open them and fetch from the leader; once all of T is in the
//     ISR the leader (whichever broker leads then, package replica) moves
//     leadership to the first live in-sync member of T if it is itself
//     being removed, then makes T the replica list; removed brokers delete
//     their copies. A request for a partition already being reassigned
//     replaces the target (R stays the original). T a permutation of R is
//     written at once (a reorder moves no data).
//   - Null replicas cancel: the replica list goes back to R as Kafka
//     restores it, the replica list minus the adding replicas (R's
//     members, in the replica list's order), and adding/removing are
//     cleared; NO_REASSIGNMENT_IN_PROGRESS when there is none.
//   - INVALID_REPLICA_ASSIGNMENT for an empty target, duplicates, unknown
//     or fenced brokers, or a cancellation that would leave no live
//     in-sync replica;
//     UNKNOWN_TOPIC_OR_PARTITION for an unknown topic or partition.
//   - timeout_ms bounds the whole request (defaultAdminTimeout when not
//     positive); the answer comes when each change is committed, not when
//     the data has moved (ListPartitionReassignments shows progress).
//
// Version notes: v0 is flexible; v1 (KIP-860) adds
// allow_replication_factor_change: when false, a target whose size differs
// from the original replica count answers INVALID_REPLICATION_FACTOR; the
// response echoes the flag.

func init() {
	Register(API{Key: 45, MinVersion: 0, MaxVersion: 1, Handle: handleAlterPartitionReassignments})
}

func handleAlterPartitionReassignments(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: AlterPartitionReassignments handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	keepRF := req.Version >= 1 && !req.AllowReplicationFactorChange
	if req.Version >= 1 {
		resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	}
	if b.Cluster == nil {
		err := fmt.Errorf("protocol: broker has no cluster view: %w", cluster.ErrNoImage)
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			err := b.Cluster.AlterReassignment(ctx, cluster.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}, rp.Replicas, keepRF)
			if err != nil {
				r.Logger.Debug("AlterPartitionReassignments failed", "topic", rt.Topic, "partition", rp.Partition, "replicas", rp.Replicas, "error", err)
				sp.ErrorCode, sp.ErrorMessage = reassignErrorCode(err), errorMessage(err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// reassignErrorCode is the Kafka code of a reassignment error: the one
// particular to reassignments, then the common translation (kafkaError).
func reassignErrorCode(err error) int16 {
	if errors.Is(err, cluster.ErrNoReassignmentInProgress) {
		return kerr.NoReassignmentInProgress.Code
	}
	return errorCode(err)
}
