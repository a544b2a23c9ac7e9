package protocol

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func commitReq(version int16, group string, topic string, id metadata.TopicID, partition int32, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.Generation = version, group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = partition, offset, 4, kmsg.StringPtr(fmt.Sprintf("v%d", version))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchOffset(t *testing.T, b *Broker, version int16, group, topic string, id metadata.TopicID, partition int32) (offset int64, epoch int32, md string, code int16) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = version
	if version <= 7 {
		req.Group = group
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{partition}
		req.Topics = append(req.Topics, rt)
	} else {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = group
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.TopicID, rt.Partitions = topic, id, []int32{partition}
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
	}
	resp := groupCall[*kmsg.OffsetFetchResponse](t, b, req)
	if version <= 7 {
		p := resp.Topics[0].Partitions[0]
		if p.Metadata != nil {
			md = *p.Metadata
		}
		return p.Offset, p.LeaderEpoch, md, max(resp.ErrorCode, p.ErrorCode)
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 {
		return -1, -1, "", g.ErrorCode
	}
	p := g.Topics[0].Partitions[0]
	if version >= 10 && g.Topics[0].TopicID != id {
		t.Fatalf("fetch v%d: topic id %v, want %v", version, g.Topics[0].TopicID, id)
	}
	if p.Metadata != nil {
		md = *p.Metadata
	}
	return p.Offset, p.LeaderEpoch, md, p.ErrorCode
}

// TestOffsetCommitFetchVersions commits at every OffsetCommit version and
// reads back at every OffsetFetch version (v10 by topic id).
func TestOffsetCommitFetchVersions(t *testing.T) {
	b := groupHarness(t)
	waitCoordinator(t, b, "offsets")
	tp := mustCreateTopic(t, b, "events", 2, 1, nil, nil)
	for cv := int16(2); cv <= 10; cv++ {
		resp := groupCall[*kmsg.OffsetCommitResponse](t, b, commitReq(cv, "offsets", "events", tp.ID, 1, int64(100+cv)))
		if len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("commit v%d: %+v", cv, resp)
		}
		if cv >= 10 && resp.Topics[0].TopicID != tp.ID {
			t.Fatalf("commit v%d: topic id %v", cv, resp.Topics[0].TopicID)
		}
		for fv := int16(1); fv <= 10; fv++ {
			off, epoch, md, code := fetchOffset(t, b, fv, "offsets", "events", tp.ID, 1)
			wantEpoch := int32(-1)
			if fv >= 5 && cv >= 6 {
				wantEpoch = 4
			}
			if code != 0 || off != int64(100+cv) || md != fmt.Sprintf("v%d", cv) || (fv >= 5 && epoch != wantEpoch) {
				t.Fatalf("commit v%d, fetch v%d: offset %d epoch %d metadata %q error %d", cv, fv, off, epoch, md, code)
			}
		}
	}
	// Never committed: -1.
	if off, _, _, code := fetchOffset(t, b, 8, "offsets", "events", tp.ID, 0); off != -1 || code != 0 {
		t.Fatalf("uncommitted partition: offset %d error %d", off, code)
	}
	// Unknown topic, unknown topic id, metadata too large.
	if resp := groupCall[*kmsg.OffsetCommitResponse](t, b, commitReq(8, "offsets", "nope", metadata.TopicID{}, 0, 1)); resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %+v", resp.Topics[0])
	}
	if resp := groupCall[*kmsg.OffsetCommitResponse](t, b, commitReq(10, "offsets", "", metadata.TopicID{9}, 0, 1)); resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown topic id: %+v", resp.Topics[0])
	}
	big := commitReq(8, "offsets", "events", tp.ID, 0, 1)
	big.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(string(make([]byte, 5000)))
	if resp := groupCall[*kmsg.OffsetCommitResponse](t, b, big); resp.Topics[0].Partitions[0].ErrorCode != kerr.OffsetMetadataTooLarge.Code {
		t.Fatalf("large metadata: %+v", resp.Topics[0])
	}
	// All topics of a group (null topics, v2+), and two groups at once (v8).
	all := kmsg.NewPtrOffsetFetchRequest()
	all.Version, all.Group = 7, "offsets"
	if resp := groupCall[*kmsg.OffsetFetchResponse](t, b, all); len(resp.Topics) != 1 || resp.Topics[0].Topic != "events" || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].Offset != 110 {
		t.Fatalf("all offsets: %+v", resp.Topics)
	}
	multi := kmsg.NewPtrOffsetFetchRequest()
	multi.Version = 8
	for _, g := range []string{"offsets", "unknown-group"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		multi.Groups = append(multi.Groups, rg)
	}
	resp := groupCall[*kmsg.OffsetFetchResponse](t, b, multi)
	if len(resp.Groups) != 2 || len(resp.Groups[0].Topics) != 1 || resp.Groups[1].ErrorCode != 0 || len(resp.Groups[1].Topics) != 0 {
		t.Fatalf("two groups: %+v", resp.Groups)
	}
	// A commit with a generation for a group that does not exist.
	gen := commitReq(8, "no-such-group", "events", tp.ID, 0, 1)
	gen.Generation, gen.MemberID = 3, "m"
	if resp := groupCall[*kmsg.OffsetCommitResponse](t, b, gen); resp.Topics[0].Partitions[0].ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("commit with a generation to no group: %+v", resp.Topics[0])
	}
}
