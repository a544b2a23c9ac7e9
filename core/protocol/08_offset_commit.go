package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit (key 8): versions 2-10 (Kafka 4.0's floor is v2; kafka-
// python 2.0 sends v2). Commits are written to __consumer_offsets and
// answered once replicated (acks=all); the handler defers the answer. A
// commit with generation -1 and no member id is a simple (group-less)
// commit, accepted for groups without members.
//
// Version notes: v2-4 carry a retention time (an explicit expiry); v3
// adds throttle time; v5 drops the retention time; v6 adds the leader
// epoch; v7 (KIP-345) the group instance id; v8 is flexible; v9 changes
// nothing for classic groups; v10 names topics by id (UNKNOWN_TOPIC_ID
// for an id the metadata image does not know).
func init() { Register(API{Key: 8, MinVersion: 2, MaxVersion: 10, Handle: handleOffsetCommit}) }

func handleOffsetCommit(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.OffsetCommitRequest)
	var unknownIDs []kmsg.OffsetCommitResponseTopic
	if req.Version >= 10 {
		named := *req
		named.Topics = nil
		img := groupsImage(b)
		for _, t := range req.Topics {
			if tp, ok := img.TopicByID(t.TopicID); ok {
				t.Topic = tp.Name
				named.Topics = append(named.Topics, t)
				continue
			}
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.UnknownTopicID.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			unknownIDs = append(unknownIDs, rt)
		}
		req = &named
	}
	if b.Groups == nil {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, noGroups.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		resp.Topics = append(resp.Topics, unknownIDs...)
		return resp, nil
	}
	return r.Defer(func(ctx context.Context) (kmsg.Response, error) {
		resp := b.Groups.OffsetCommit(ctx, req)
		if req.Version >= 10 {
			for i := range resp.Topics {
				resp.Topics[i].Topic = ""
			}
		}
		resp.Topics = append(resp.Topics, unknownIDs...)
		return resp, nil
	})
}
