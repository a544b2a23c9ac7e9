package protocol

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
)

// ElectLeaders (key 43): versions 0-2.
//
// Behaviour:
//   - Any broker answers: there is no controller; each election is a
//     compare-and-set of the partition's state through the metadata
//     backend (cluster.Cluster.ElectLeaders), decided from this broker's
//     image once it caught up with the backend. The leader epoch goes up
//     by one and the ISR is kept; the old leader becomes a follower and
//     truncates what the new leader does not have (package replica).
//   - election_type PREFERRED (0) moves leadership to the first replica of
//     the assignment when it is live and in the ISR:
//     PREFERRED_LEADER_NOT_AVAILABLE when it is not, ELECTION_NOT_NEEDED
//     when it already leads. UNCLEAN (1) elects a leader for a partition
//     without a live one: the first live in-sync replica, or, with none,
//     the first live replica (alone in the ISR);
//     ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is live,
//     ELECTION_NOT_NEEDED when the partition has a live leader. Another
//     type answers INVALID_REQUEST at the top level (v1+; v0 has no
//     top-level error, so every partition carries it).
//   - Null topics elect every partition of every topic and list only the
//     partitions whose election was needed (as Kafka does). An unknown
//     topic or partition answers UNKNOWN_TOPIC_OR_PARTITION for that
//     partition.
//   - timeout_ms bounds the whole request (defaultAdminTimeout when not
//     positive); partitions not done by then answer REQUEST_TIMED_OUT.
//
// Version notes: v0 is always PREFERRED (no election_type) and has no
// top-level error code; v1 adds both; v2 is flexible.

func init() {
	Register(API{Key: 43, MinVersion: 0, MaxVersion: 2, Handle: handleElectLeaders})
}

func handleElectLeaders(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.ElectLeadersRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: ElectLeaders handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()

	typ := cluster.ElectPreferred
	if req.Version >= 1 {
		typ = cluster.ElectionType(req.ElectionType)
	}
	parts := requestedPartitions(req.Topics,
		func(t *kmsg.ElectLeadersRequestTopic) string { return t.Topic },
		func(t *kmsg.ElectLeadersRequestTopic) []int32 { return t.Partitions })
	var results []cluster.ElectionResult
	var err error
	if b.Cluster == nil {
		err = fmt.Errorf("protocol: broker has no cluster view: %w", cluster.ErrNoImage)
	} else {
		results, err = b.Cluster.ElectLeaders(ctx, typ, parts)
	}
	if err != nil {
		r.Logger.Debug("ElectLeaders failed", "type", typ, "error", err)
		code := electionErrorCode(err)
		if req.Version >= 1 {
			resp.ErrorCode = code
			return resp, nil
		}
		// v0: no top-level error; every partition asked carries it.
		results = results[:0]
		for _, tp := range parts {
			results = append(results, cluster.ElectionResult{TopicPartition: tp, Err: err})
		}
	}
	index := map[string]int{}
	for _, res := range results {
		i, ok := index[res.Topic]
		if !ok {
			i = len(resp.Topics)
			index[res.Topic] = i
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = res.Topic
			resp.Topics = append(resp.Topics, st)
		}
		sp := kmsg.NewElectLeadersResponseTopicPartition()
		sp.Partition = res.Partition
		if res.Err != nil {
			sp.ErrorCode, sp.ErrorMessage = electionErrorCode(res.Err), errorMessage(res.Err)
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
	}
	return resp, nil
}

// electionErrorCode is the Kafka code of an election error: the outcomes
// particular to elections, then the common translation (kafkaError).
func electionErrorCode(err error) int16 {
	switch {
	case errors.Is(err, cluster.ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded.Code
	case errors.Is(err, cluster.ErrPreferredLeaderNotAvailable):
		return kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, cluster.ErrEligibleLeadersNotAvailable):
		return kerr.EligibleLeadersNotAvailable.Code
	}
	return errorCode(err)
}
