package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch (key 9): versions 1-10 (Kafka 4.0's floor is v1; kafka-
// python 2.0 sends v1). Committed offsets of a group, -1 for partitions
// without one; no topics (v2+) means every committed partition.
//
// Version notes: v2 adds a top-level error and null topics for "all"; v3
// throttle time; v5 the leader epoch; v6 is flexible; v7 require_stable
// (no transactions here: always stable); v8 (KIP-709) batches groups, with
// errors per group; v9 adds member id and epoch (KIP-848 groups; ignored
// for classic groups); v10 names topics by id.
func init() { Register(API{Key: 9, MinVersion: 1, MaxVersion: 10, Handle: handleOffsetFetch}) }

func handleOffsetFetch(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.OffsetFetchRequest)
	batch := *req
	if req.Version <= 7 {
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = req.Group
		if req.Topics != nil || req.Version < 2 {
			g.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
			for _, t := range req.Topics {
				gt := kmsg.NewOffsetFetchRequestGroupTopic()
				gt.Topic, gt.Partitions = t.Topic, t.Partitions
				g.Topics = append(g.Topics, gt)
			}
		}
		batch.Groups = []kmsg.OffsetFetchRequestGroup{g}
	}
	img := groupsImage(b)
	var unknownIDs map[int][]kmsg.OffsetFetchResponseGroupTopic // group index -> topics
	if req.Version >= 10 {
		batch.Groups = append([]kmsg.OffsetFetchRequestGroup(nil), batch.Groups...)
		for gi := range batch.Groups {
			g := &batch.Groups[gi]
			if g.Topics == nil {
				continue
			}
			var named []kmsg.OffsetFetchRequestGroupTopic
			for _, t := range g.Topics {
				if tp, ok := img.TopicByID(t.TopicID); ok {
					t.Topic = tp.Name
					named = append(named, t)
					continue
				}
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.TopicID = t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, kerr.UnknownTopicID.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				if unknownIDs == nil {
					unknownIDs = map[int][]kmsg.OffsetFetchResponseGroupTopic{}
				}
				unknownIDs[gi] = append(unknownIDs[gi], rt)
			}
			if named == nil {
				named = []kmsg.OffsetFetchRequestGroupTopic{}
			}
			g.Topics = named
		}
	}

	var resp *kmsg.OffsetFetchResponse
	if b.Groups == nil {
		resp = req.ResponseKind().(*kmsg.OffsetFetchResponse)
		for _, g := range batch.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, noGroups.Code
			resp.Groups = append(resp.Groups, rg)
		}
	} else {
		resp = b.Groups.OffsetFetch(ctx, &batch)
	}
	if req.Version >= 10 {
		for gi := range resp.Groups {
			g := &resp.Groups[gi]
			for ti := range g.Topics {
				if t, ok := img.Topic(g.Topics[ti].Topic); ok {
					g.Topics[ti].TopicID = t.ID
				}
				g.Topics[ti].Topic = ""
			}
			g.Topics = append(g.Topics, unknownIDs[gi]...)
		}
	}
	if req.Version <= 7 {
		g := resp.Groups[0]
		resp.Groups = nil
		resp.ErrorCode = g.ErrorCode
		for _, gt := range g.Topics {
			t := kmsg.NewOffsetFetchResponseTopic()
			t.Topic = gt.Topic
			for _, gp := range gt.Partitions {
				p := kmsg.NewOffsetFetchResponseTopicPartition()
				p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		if req.Version < 2 && g.ErrorCode != 0 {
			// v0-1 have no top-level error: every partition carries it.
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, g.ErrorCode
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
	}
	return resp, nil
}
