package protocol

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords (key 21): versions 0-2.
//
// Behaviour, per partition, by its leader: the log start offset moves to
// the requested offset (-1: the high watermark) and segments wholly below
// it are deleted; the answer's low watermark is the new log start offset,
// persisted before the answer. An offset above the high watermark (or
// below -1) is OFFSET_OUT_OF_RANGE; one at or below the log start changes
// nothing. NOT_LEADER_OR_FOLLOWER on a follower, UNKNOWN_TOPIC_OR_PARTITION
// for an unknown partition. The timeout is not used: with no follower to
// wait for (replication is not there yet), the answer is immediate.
//
// Version notes: v1 is v0 with throttling; v2 is flexible.

func init() {
	Register(API{Key: 21, MinVersion: 0, MaxVersion: 2, Handle: handleDeleteRecords})
}

func handleDeleteRecords(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req, ok := r.Body.(*kmsg.DeleteRecordsRequest)
	if !ok {
		return nil, fmt.Errorf("protocol: DeleteRecords handler got %T", r.Body)
	}
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	img := brokerImage(b)
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := &resp.Topics[ti]
		*st = kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := &st.Partitions[pi]
			*sp = kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			p, ke := lookupPartition(b, img, rt.Topic, rp.Partition)
			if ke != nil {
				sp.ErrorCode = ke.Code
				continue
			}
			low, err := p.DeleteRecordsBefore(rp.Offset)
			if err != nil {
				sp.ErrorCode = partitionError(err).Code
				continue
			}
			sp.LowWatermark = low
		}
	}
	return resp, nil
}
