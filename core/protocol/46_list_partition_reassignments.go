package protocol

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
)

// ListPartitionReassignments (key 46): version 0.
//
// Behaviour:
//   - Any broker answers, from its image once it caught up with the
//     metadata backend (cluster.Cluster.ListReassignments): each partition
//     with a reassignment in progress (see AlterPartitionReassignments)
//     with its full replica set (target first, then the replicas being
//     removed), adding replicas (target − original) and removing replicas
//     (original − target), as the partition's metadata holds them.
//   - Null topics list every reassignment in progress; named partitions
//     that are unknown or not being reassigned are left out (as Kafka
//     does).
//   - timeout_ms bounds the request (defaultAdminTimeout when not
//     positive); a broker that cannot catch up with the backend answers
//     the top-level error (REQUEST_TIMED_OUT or the backend's).
//
// Version notes: v0 is flexible and the only version.

func init() {
	Register(API{Key: 46, MinVersion: 0, MaxVersion: 0, Handle: handleListPartitionReassignments})
}

func handleListPartitionReassignments(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.ListPartitionReassignmentsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: ListPartitionReassignments handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()
	parts := requestedPartitions(req.Topics,
		func(t *kmsg.ListPartitionReassignmentsRequestTopic) string { return t.Topic },
		func(t *kmsg.ListPartitionReassignmentsRequestTopic) []int32 { return t.Partitions })
	var list []cluster.Reassignment
	var err error
	if b.Cluster == nil {
		err = fmt.Errorf("protocol: broker has no cluster view: %w", cluster.ErrNoImage)
	} else {
		list, err = b.Cluster.ListReassignments(ctx, parts)
	}
	if err != nil {
		r.Logger.Debug("ListPartitionReassignments failed", "error", err)
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	index := map[string]int{}
	for _, ra := range list {
		i, ok := index[ra.Topic]
		if !ok {
			i = len(resp.Topics)
			index[ra.Topic] = i
			st := kmsg.NewListPartitionReassignmentsResponseTopic()
			st.Topic = ra.Topic
			resp.Topics = append(resp.Topics, st)
		}
		sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		sp.Partition = ra.Partition
		sp.Replicas = nonNil(ra.Replicas)
		sp.AddingReplicas = nonNil(ra.Adding)
		sp.RemovingReplicas = nonNil(ra.Removing)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
	}
	return resp, nil
}

// nonNil is s, or an empty slice for nil (the array fields are not
// nullable).
func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
