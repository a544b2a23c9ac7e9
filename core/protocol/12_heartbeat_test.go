package protocol

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func heartbeat(t *testing.T, b *Broker, group, member string, gen int32) int16 {
	t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	return groupCall[*kmsg.HeartbeatResponse](t, b, req).ErrorCode
}

func describe(t *testing.T, b *Broker, group string) kmsg.DescribeGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	return groupCall[*kmsg.DescribeGroupsResponse](t, b, req).Groups[0]
}

// TestGroupSessionTimeout: a member that stops heartbeating is removed
// after its session timeout and the group rebalances without it, while a
// member that heartbeats stays.
func TestGroupSessionTimeout(t *testing.T) {
	b := groupHarness(t)
	g := "sessions"
	waitCoordinator(t, b, g)
	join := func(member string, sessionMs int32) *kmsg.JoinGroupRequest {
		req := joinReq(9, g, member, nil)
		req.SessionTimeoutMillis = sessionMs
		return req
	}
	// a: long session, stays alone first.
	ra := groupCall[*kmsg.JoinGroupResponse](t, b, join("", 10000))
	ra = groupCall[*kmsg.JoinGroupResponse](t, b, join(ra.MemberID, 10000))
	if ra.ErrorCode != 0 {
		t.Fatalf("join a: %d", ra.ErrorCode)
	}
	sync := func(member string, gen int32, assign map[string]string) int16 {
		req := kmsg.NewPtrSyncGroupRequest()
		req.Group, req.MemberID, req.Generation = g, member, gen
		for m, a := range assign {
			ga := kmsg.NewSyncGroupRequestGroupAssignment()
			ga.MemberID, ga.MemberAssignment = m, []byte(a)
			req.GroupAssignment = append(req.GroupAssignment, ga)
		}
		return groupCall[*kmsg.SyncGroupResponse](t, b, req).ErrorCode
	}
	if code := sync(ra.MemberID, ra.Generation, map[string]string{ra.MemberID: "all"}); code != 0 {
		t.Fatalf("sync a: %d", code)
	}

	// b joins with a short session (long enough that the checks of the
	// two-member generation below finish well before it ends on a loaded
	// machine); its JoinGroup waits for a to rejoin.
	const bSessionMs = 1500
	rb := groupCall[*kmsg.JoinGroupResponse](t, b, join("", bSessionMs))
	bJoined := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		resp, err := groupCallE[*kmsg.JoinGroupResponse](harnessCtx(t), b, join(rb.MemberID, bSessionMs))
		if err != nil {
			t.Error(err)
		}
		bJoined <- resp
	}()
	waitFor(t, "a told to rejoin", func() bool { return heartbeat(t, b, g, ra.MemberID, ra.Generation) == kerr.RebalanceInProgress.Code })
	ra2 := groupCall[*kmsg.JoinGroupResponse](t, b, join(ra.MemberID, 10000))
	rb2 := <-bJoined
	if ra2.ErrorCode != 0 || rb2 == nil || rb2.ErrorCode != 0 || ra2.Generation != ra.Generation+1 || rb2.Generation != ra2.Generation || len(ra2.Members) != 2 {
		t.Fatalf("second generation: a %+v b %+v", ra2, rb2)
	}
	if code := sync(ra2.MemberID, ra2.Generation, map[string]string{ra.MemberID: "half", rb.MemberID: "half"}); code != 0 {
		t.Fatalf("sync a: %d", code)
	}
	if d := describe(t, b, g); d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("group with b: %+v", d)
	}

	// b never heartbeats: after its session it is gone, a is told to
	// rejoin.
	waitFor(t, "b expired", func() bool {
		return heartbeat(t, b, g, ra.MemberID, ra2.Generation) == kerr.RebalanceInProgress.Code
	})
	if code := heartbeat(t, b, g, rb.MemberID, ra2.Generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of the expired member: %d, want UNKNOWN_MEMBER_ID", code)
	}
	ra3 := groupCall[*kmsg.JoinGroupResponse](t, b, join(ra.MemberID, 10000))
	if ra3.ErrorCode != 0 || ra3.Generation != ra2.Generation+1 || len(ra3.Members) != 1 || ra3.LeaderID != ra.MemberID {
		t.Fatalf("third generation: %+v", ra3)
	}
	// Sync with a stale generation.
	if code := sync(ra.MemberID, ra2.Generation, nil); code != kerr.IllegalGeneration.Code {
		t.Fatalf("sync of an old generation: %d, want ILLEGAL_GENERATION", code)
	}
	if code := sync(ra.MemberID, ra3.Generation, map[string]string{ra.MemberID: "all"}); code != 0 {
		t.Fatalf("sync a alone: %d", code)
	}
	if d := describe(t, b, g); d.State != "Stable" || len(d.Members) != 1 || string(d.Members[0].MemberAssignment) != "all" {
		t.Fatalf("group after b expired: %+v", d)
	}
}

// TestGroupStaticFencing: a static member restarting (JoinGroup with no
// member id and its instance id) takes over without a rebalance; its old
// member id is fenced everywhere.
func TestGroupStaticFencing(t *testing.T) {
	b := groupHarness(t)
	g := "static-raw"
	waitCoordinator(t, b, g)
	inst := kmsg.StringPtr("instance-1")
	first := joinAlone(t, b, 9, g, inst)
	s := kmsg.NewPtrSyncGroupRequest()
	s.Version, s.Group, s.MemberID, s.InstanceID, s.Generation = 5, g, first.MemberID, inst, first.Generation
	ga := kmsg.NewSyncGroupRequestGroupAssignment()
	ga.MemberID, ga.MemberAssignment = first.MemberID, []byte("mine")
	s.GroupAssignment = append(s.GroupAssignment, ga)
	if got := groupCall[*kmsg.SyncGroupResponse](t, b, s); got.ErrorCode != 0 {
		t.Fatalf("sync: %d", got.ErrorCode)
	}

	again := groupCall[*kmsg.JoinGroupResponse](t, b, joinReq(9, g, "", inst))
	if again.ErrorCode != 0 || again.Generation != first.Generation || again.MemberID == first.MemberID || again.LeaderID != again.MemberID || !again.SkipAssignment {
		t.Fatalf("static rejoin: %+v", again)
	}
	if code := heartbeat(t, b, g, first.MemberID, first.Generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of the replaced member id: %d", code)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.InstanceID, hb.Generation = 4, g, first.MemberID, inst, first.Generation
	if got := groupCall[*kmsg.HeartbeatResponse](t, b, hb); got.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("old member id with the instance id: %d, want FENCED_INSTANCE_ID", got.ErrorCode)
	}
	c := commitReq(8, g, "x", [16]byte{}, 0, 1)
	c.Generation, c.MemberID, c.InstanceID = first.Generation, first.MemberID, inst
	mustCreateTopic(t, b, "x", 1, 1, nil, nil)
	if got := groupCall[*kmsg.OffsetCommitResponse](t, b, c); got.Topics[0].Partitions[0].ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("commit from the old member id: %d", got.Topics[0].Partitions[0].ErrorCode)
	}
	s.MemberID = again.MemberID
	s.GroupAssignment = nil
	if got := groupCall[*kmsg.SyncGroupResponse](t, b, s); got.ErrorCode != 0 || string(got.MemberAssignment) != "mine" {
		t.Fatalf("sync after the static rejoin: %+v", got)
	}
	if d := describe(t, b, g); d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != again.MemberID {
		t.Fatalf("group: %+v", d)
	}
}
