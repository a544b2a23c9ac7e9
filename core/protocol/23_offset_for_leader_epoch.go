package protocol

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/partition"
)

// OffsetForLeaderEpoch (key 23): versions 2-4.
//
// Behaviour, per partition, by its leader (for consumers detecting
// truncation, KIP-320, and for followers finding where to truncate): the
// largest leader epoch <= the requested one that the log knows, and the
// offset where it ends — the log end offset for the current epoch, which
// counts from the moment this broker became leader even before anything was
// appended in it; epoch -1 and offset -1 when there is no answer (a
// requested epoch above every known one). current_leader_epoch is checked
// first (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH), then leadership
// (NOT_LEADER_OR_FOLLOWER); UNKNOWN_TOPIC_OR_PARTITION for an unknown
// partition.
//
// Version notes: versions 0-1 are not served, as in Kafka 4.0 (KIP-896).
// v3 adds the replica id (-1 consumers, a broker id for followers), v4 is
// flexible.

func init() {
	Register(API{Key: 23, MinVersion: 2, MaxVersion: 4, Handle: handleOffsetForLeaderEpoch})
}

func handleOffsetForLeaderEpoch(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.OffsetForLeaderEpochRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: OffsetForLeaderEpoch handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	img := brokerImage(b)
	resp.Topics = make([]kmsg.OffsetForLeaderEpochResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := &resp.Topics[ti]
		*st = kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := &st.Partitions[pi]
			*sp = kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			p, ke := lookupPartition(b, img, rt.Topic, rp.Partition)
			if ke != nil {
				sp.ErrorCode = ke.Code
				continue
			}
			current := rp.CurrentLeaderEpoch
			if current < 0 {
				current = partition.NoEpoch
			}
			epoch, end, err := p.EndOffsetForEpoch(current, rp.LeaderEpoch)
			if err != nil {
				sp.ErrorCode = partitionError(err).Code
				continue
			}
			sp.LeaderEpoch, sp.EndOffset = epoch, end
		}
	}
	return resp, nil
}
