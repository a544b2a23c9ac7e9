package protocol

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
)

// CreatePartitions (key 37): versions 0-3.
//
// Behaviour:
//   - Any broker answers: count is the topic's new total; the request is
//     validated against this broker's metadata image once it caught up
//     with the backend, applied as one compare-and-set of the partition
//     count, and answered once this broker's image has the new partitions.
//   - Without an assignment the new partitions continue the topic's
//     round-robin over the live brokers (INVALID_REPLICATION_FACTOR when
//     fewer are live than the topic's factor). With one, it must list
//     exactly the added partitions, each with the topic's replication
//     factor of distinct registered brokers (INVALID_REPLICA_ASSIGNMENT).
//   - A count not above the current one answers INVALID_PARTITIONS, an
//     unknown topic UNKNOWN_TOPIC_OR_PARTITION, a name given twice
//     INVALID_REQUEST ("Duplicate topic name.") once. A metadata backend
//     without topic updates answers UNSUPPORTED_VERSION with a message
//     saying so.
//   - validate_only checks everything and changes nothing.
//   - timeout_ms bounds the whole request (defaultAdminTimeout when not
//     positive); a topic not done by then answers REQUEST_TIMED_OUT.
//
// Version notes: v1 same as v0; v2 flexible; v3 quota errors (none here).

func init() {
	Register(API{Key: 37, MinVersion: 0, MaxVersion: 3, Handle: handleCreatePartitions})
}

func handleCreatePartitions(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.CreatePartitionsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: CreatePartitions handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()

	count := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	answered := make(map[string]bool, len(req.Topics))
	for _, rt := range req.Topics {
		if answered[rt.Topic] {
			continue
		}
		answered[rt.Topic] = true
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if count[rt.Topic] > 1 {
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, messagef("Duplicate topic name.")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if err := createPartitions(ctx, b, rt, req.ValidateOnly); err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			r.Logger.Debug("CreatePartitions refused a topic", "topic", rt.Topic, "count", rt.Count, "error", err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// createPartitions grows (or, validateOnly, checks growing) one topic.
func createPartitions(ctx context.Context, b *Broker, rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	if b.Cluster == nil {
		return fmt.Errorf("protocol: broker has no cluster view: %w", cluster.ErrNoImage)
	}
	var assignment [][]int32
	if rt.Assignment != nil {
		assignment = make([][]int32, len(rt.Assignment))
		for i, a := range rt.Assignment {
			assignment[i] = a.Replicas
		}
	}
	if validateOnly {
		return b.Cluster.ValidateCreatePartitions(ctx, rt.Topic, rt.Count, assignment)
	}
	_, err := b.Cluster.CreatePartitions(ctx, rt.Topic, rt.Count, assignment)
	return err
}
