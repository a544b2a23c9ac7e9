package protocol

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/partition"
)

// ListOffsets (key 2): versions 1-11.
//
// Behaviour, per partition, answered by its leader (replica id -1, a
// consumer, or a follower's broker id) or by any replica (-2, debugging):
//   - timestamp -2 (earliest) and -4 (earliest local, v8+): the log start
//     offset; -1 (latest): the high watermark for consumers (also with
//     read_committed: there are no transactions, so the last stable offset
//     is the high watermark), the log end offset for followers, with the
//     current leader epoch; -3 (max timestamp, v7+): the record with the
//     largest timestamp; -5 (latest tiered, v9+) and -6 (earliest pending
//     upload, v11+): offset -1, nothing is tiered.
//   - timestamp >= 0: the first record whose timestamp is at least it,
//     with its timestamp and leader epoch; offset -1 when none (records at
//     or past the high watermark do not count for consumers).
//   - A special timestamp sent below the version that defines it, or any
//     other negative one, is UNSUPPORTED_VERSION for that partition (as
//     Kafka's timestampMinSupportedVersion); a partition listed twice is
//     INVALID_REQUEST for each entry.
//   - Errors: NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH /
//     UNKNOWN_LEADER_EPOCH (v4+ current_leader_epoch),
//     UNKNOWN_TOPIC_OR_PARTITION, OFFSET_NOT_AVAILABLE while a new leader's
//     high watermark is below its epoch start.
//
// Version notes: v0 (several offsets by segment) is not served, as in Kafka
// 4.0 (KIP-896); kafka-python 2.0 sends v1. v2 isolation level, v4 leader
// epochs, v6 flexible, v10 timeout (nothing here waits on remote storage).

func init() {
	Register(API{Key: 2, MinVersion: 1, MaxVersion: 11, Handle: handleListOffsets})
}

// listOffsetsMinVersion is the first version that defines each special
// timestamp.
var listOffsetsMinVersion = map[int64]int16{
	partition.TimestampLatest:                1,
	partition.TimestampEarliest:              1,
	partition.TimestampMax:                   7,
	partition.TimestampEarliestLocal:         8,
	partition.TimestampLatestTiered:          9,
	partition.TimestampEarliestPendingUpload: 11,
}

func handleListOffsets(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.ListOffsetsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: ListOffsets handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	img := brokerImage(b)
	type tp struct {
		topic string
		index int32
	}
	seen := map[tp]int{}
	for i := range req.Topics {
		for _, rp := range req.Topics[i].Partitions {
			seen[tp{req.Topics[i].Topic, rp.Partition}]++
		}
	}
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := &resp.Topics[ti]
		*st = kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := &st.Partitions[pi]
			*sp = kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			if seen[tp{rt.Topic, rp.Partition}] > 1 {
				sp.ErrorCode = kerr.InvalidRequest.Code
				continue
			}
			if rp.Timestamp < 0 {
				if min, ok := listOffsetsMinVersion[rp.Timestamp]; !ok || req.Version < min {
					sp.ErrorCode = kerr.UnsupportedVersion.Code
					continue
				}
			}
			p, ke := lookupPartition(b, img, rt.Topic, rp.Partition)
			if ke != nil {
				sp.ErrorCode = ke.Code
				continue
			}
			q := partition.ListOffsetParams{
				Timestamp:          rp.Timestamp,
				CurrentLeaderEpoch: partition.NoEpoch,
				ReplicaID:          req.ReplicaID,
				ReadCommitted:      req.IsolationLevel == 1,
			}
			if req.Version >= 4 {
				q.CurrentLeaderEpoch = rp.CurrentLeaderEpoch
			}
			res, err := p.ListOffset(q)
			if err != nil {
				sp.ErrorCode = partitionError(err).Code
				continue
			}
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = res.Timestamp, res.Offset, res.LeaderEpoch
		}
	}
	return resp, nil
}
