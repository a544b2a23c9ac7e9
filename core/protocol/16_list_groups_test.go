package protocol

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupAdminVersions: DescribeGroups v0-6, ListGroups v0-5 (state and
// type filters), OffsetDelete v0 and DeleteGroups v0-2 through the wire
// codec.
func TestGroupAdminVersions(t *testing.T) {
	b := groupHarness(t)
	waitCoordinator(t, b, "admin")
	tp := mustCreateTopic(t, b, "t", 1, 1, nil, nil)
	stable := joinAlone(t, b, 9, "stable", nil)
	s := kmsg.NewPtrSyncGroupRequest()
	s.Group, s.MemberID, s.Generation = "stable", stable.MemberID, stable.Generation
	if got := groupCall[*kmsg.SyncGroupResponse](t, b, s); got.ErrorCode != 0 {
		t.Fatalf("sync: %d", got.ErrorCode)
	}

	for v := int16(0); v <= 6; v++ {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version, req.Groups, req.IncludeAuthorizedOperations = v, []string{"stable", "nothing"}, v >= 3
		resp := groupCall[*kmsg.DescribeGroupsResponse](t, b, req)
		g, missing := resp.Groups[0], resp.Groups[1]
		if g.ErrorCode != 0 || g.State != "Stable" || g.Protocol != "range" || g.ProtocolType != "consumer" || len(g.Members) != 1 ||
			g.Members[0].ClientID != "harness" || g.Members[0].ClientHost != "/127.0.0.1" || string(g.Members[0].ProtocolMetadata) != "meta-stable" {
			t.Fatalf("describe v%d: %+v", v, g)
		}
		if v >= 3 && g.AuthorizedOperations != 1<<3|1<<6|1<<8 {
			t.Fatalf("describe v%d: authorized operations %b", v, g.AuthorizedOperations)
		}
		wantMissing := int16(0)
		if v >= 6 {
			wantMissing = kerr.GroupIDNotFound.Code
		}
		if missing.State != "Dead" || missing.ErrorCode != wantMissing {
			t.Fatalf("describe v%d of a missing group: %+v", v, missing)
		}
	}

	if got := groupCall[*kmsg.OffsetCommitResponse](t, b, commitReq(8, "simple", "t", tp.ID, 0, 5)); got.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %+v", got)
	}
	for v := int16(0); v <= 5; v++ {
		t.Run(fmt.Sprintf("list-v%d", v), func(t *testing.T) {
			req := kmsg.NewPtrListGroupsRequest()
			req.Version = v
			if v >= 4 {
				req.StatesFilter = []string{"stable", "EMPTY"}
			}
			if v >= 5 {
				req.TypesFilter = []string{"classic"}
			}
			resp := groupCall[*kmsg.ListGroupsResponse](t, b, req)
			got := map[string]kmsg.ListGroupsResponseGroup{}
			for _, g := range resp.Groups {
				got[g.Group] = g
			}
			if resp.ErrorCode != 0 || len(got) != 2 || got["stable"].ProtocolType != "consumer" || got["simple"].ProtocolType != "" {
				t.Fatalf("list v%d: %+v", v, resp)
			}
			if v >= 4 && (got["stable"].GroupState != "Stable" || got["simple"].GroupState != "Empty") {
				t.Fatalf("list v%d states: %+v", v, resp.Groups)
			}
			if v >= 5 && got["stable"].GroupType != "classic" {
				t.Fatalf("list v%d type: %+v", v, resp.Groups)
			}
			if v >= 4 {
				req.StatesFilter = []string{"PreparingRebalance"}
				if resp := groupCall[*kmsg.ListGroupsResponse](t, b, req); len(resp.Groups) != 0 {
					t.Fatalf("list v%d filtered: %+v", v, resp.Groups)
				}
			}
			if v >= 5 {
				req.StatesFilter, req.TypesFilter = nil, []string{"consumer"}
				if resp := groupCall[*kmsg.ListGroupsResponse](t, b, req); len(resp.Groups) != 0 {
					t.Fatalf("list v%d type filtered: %+v", v, resp.Groups)
				}
			}
		})
	}

	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "simple"
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = "t"
	odp := kmsg.NewOffsetDeleteRequestTopicPartition()
	odt.Partitions = append(odt.Partitions, odp)
	od.Topics = append(od.Topics, odt)
	if got := groupCall[*kmsg.OffsetDeleteResponse](t, b, od); got.ErrorCode != 0 || got.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", got)
	}
	if off, _, _, _ := fetchOffset(t, b, 8, "simple", "t", tp.ID, 0); off != -1 {
		t.Fatalf("offset after OffsetDelete: %d", off)
	}
	od.Group = "nothing"
	if got := groupCall[*kmsg.OffsetDeleteResponse](t, b, od); got.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("offset delete of a missing group: %+v", got)
	}

	for v := int16(0); v <= 2; v++ {
		name := fmt.Sprintf("del-v%d", v)
		if got := groupCall[*kmsg.OffsetCommitResponse](t, b, commitReq(8, name, "t", tp.ID, 0, 5)); got.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("commit: %+v", got)
		}
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Version, req.Groups = v, []string{name, "stable", "nothing"}
		resp := groupCall[*kmsg.DeleteGroupsResponse](t, b, req)
		if resp.Groups[0].ErrorCode != 0 || resp.Groups[1].ErrorCode != kerr.NonEmptyGroup.Code || resp.Groups[2].ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("delete v%d: %+v", v, resp.Groups)
		}
		if d := describe(t, b, name); d.State != "Dead" {
			t.Fatalf("deleted group: %+v", d)
		}
	}
}
