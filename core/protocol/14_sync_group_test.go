package protocol

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func joinReq(version int16, group, member string, instance *string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = version
	req.Group, req.MemberID, req.InstanceID = group, member, instance
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 5000, 5000
	req.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte("meta-"+group)
	req.Protocols = append(req.Protocols, p)
	return req
}

// joinAlone joins group as its only member at version v (answering
// MEMBER_ID_REQUIRED on v4+) and returns the answer.
func joinAlone(t *testing.T, b *Broker, v int16, group string, instance *string) *kmsg.JoinGroupResponse {
	t.Helper()
	resp := groupCall[*kmsg.JoinGroupResponse](t, b, joinReq(v, group, "", instance))
	if v >= 4 && instance == nil {
		if resp.ErrorCode != kerr.MemberIDRequired.Code || resp.MemberID == "" {
			t.Fatalf("v%d first join: error %d member %q, want MEMBER_ID_REQUIRED with an id", v, resp.ErrorCode, resp.MemberID)
		}
		resp = groupCall[*kmsg.JoinGroupResponse](t, b, joinReq(v, group, resp.MemberID, instance))
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("v%d join: error %d", v, resp.ErrorCode)
	}
	return resp
}

// TestGroupMembershipVersions runs a whole membership at every version of
// JoinGroup (with SyncGroup, Heartbeat and LeaveGroup at the matching
// versions): join, assignment, heartbeats, errors, leave.
func TestGroupMembershipVersions(t *testing.T) {
	b := groupHarness(t)
	waitCoordinator(t, b, "warmup")
	for v := int16(0); v <= 9; v++ {
		t.Run(fmt.Sprintf("join-v%d", v), func(t *testing.T) {
			g := fmt.Sprintf("members-v%d", v)
			sv, hv, lv := min(v, 5), min(v, 4), min(v, 5)
			var instance *string
			if v >= 5 {
				s := "instance-" + g
				instance = &s
			}
			jr := joinAlone(t, b, v, g, instance)
			if jr.Generation != 1 || jr.LeaderID != jr.MemberID || len(jr.Members) != 1 || string(jr.Members[0].ProtocolMetadata) != "meta-"+g {
				t.Fatalf("join: %+v", jr)
			}
			if v >= 7 && (jr.Protocol == nil || *jr.Protocol != "range" || jr.ProtocolType == nil || *jr.ProtocolType != "consumer") {
				t.Fatalf("join v%d: protocol %v type %v", v, jr.Protocol, jr.ProtocolType)
			}
			if v >= 5 && (jr.Members[0].InstanceID == nil || *jr.Members[0].InstanceID != *instance) {
				t.Fatalf("join v%d: member instance %v", v, jr.Members[0].InstanceID)
			}

			sync := kmsg.NewPtrSyncGroupRequest()
			sync.Version, sync.Group, sync.Generation, sync.MemberID, sync.InstanceID = sv, g, jr.Generation, jr.MemberID, instance
			if sv >= 5 {
				sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
			}
			a := kmsg.NewSyncGroupRequestGroupAssignment()
			a.MemberID, a.MemberAssignment = jr.MemberID, []byte("assignment")
			sync.GroupAssignment = append(sync.GroupAssignment, a)
			sr := groupCall[*kmsg.SyncGroupResponse](t, b, sync)
			if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "assignment" {
				t.Fatalf("sync v%d: %+v", sv, sr)
			}
			if sv >= 5 && (sr.Protocol == nil || *sr.Protocol != "range") {
				t.Fatalf("sync v%d: protocol %v", sv, sr.Protocol)
			}

			hb := func(member string, gen int32) int16 {
				req := kmsg.NewPtrHeartbeatRequest()
				req.Version, req.Group, req.MemberID, req.Generation = hv, g, member, gen
				if hv >= 3 {
					req.InstanceID = instance
				}
				return groupCall[*kmsg.HeartbeatResponse](t, b, req).ErrorCode
			}
			if code := hb(jr.MemberID, jr.Generation); code != 0 {
				t.Fatalf("heartbeat v%d: error %d", hv, code)
			}
			if code := hb(jr.MemberID, jr.Generation+1); code != kerr.IllegalGeneration.Code {
				t.Fatalf("heartbeat with a wrong generation: error %d, want ILLEGAL_GENERATION", code)
			}
			if instance == nil {
				if code := hb("nobody", jr.Generation); code != kerr.UnknownMemberID.Code {
					t.Fatalf("heartbeat of an unknown member: error %d, want UNKNOWN_MEMBER_ID", code)
				}
			} else if code := hb("impostor", jr.Generation); code != kerr.FencedInstanceID.Code {
				t.Fatalf("heartbeat with a fenced instance: error %d, want FENCED_INSTANCE_ID", code)
			}

			// A second sync in Stable returns the assignment again.
			if sr := groupCall[*kmsg.SyncGroupResponse](t, b, sync); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "assignment" {
				t.Fatalf("second sync: %+v", sr)
			}

			leave := kmsg.NewPtrLeaveGroupRequest()
			leave.Version, leave.Group = lv, g
			if lv <= 2 {
				leave.MemberID = jr.MemberID
			} else {
				m := kmsg.NewLeaveGroupRequestMember()
				m.MemberID, m.InstanceID = jr.MemberID, instance
				unknown := kmsg.NewLeaveGroupRequestMember()
				unknown.MemberID = "unknown"
				leave.Members = append(leave.Members, m, unknown)
			}
			lr := groupCall[*kmsg.LeaveGroupResponse](t, b, leave)
			if lv <= 2 {
				if lr.ErrorCode != 0 {
					t.Fatalf("leave v%d: error %d", lv, lr.ErrorCode)
				}
			} else if lr.ErrorCode != 0 || len(lr.Members) != 2 || lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
				t.Fatalf("leave v%d: %+v", lv, lr)
			}
			if code := hb(jr.MemberID, jr.Generation); code != kerr.UnknownMemberID.Code {
				t.Fatalf("heartbeat after leaving: error %d, want UNKNOWN_MEMBER_ID", code)
			}
			d := kmsg.NewPtrDescribeGroupsRequest()
			d.Groups = []string{g}
			if dr := groupCall[*kmsg.DescribeGroupsResponse](t, b, d); dr.Groups[0].State != "Empty" || len(dr.Groups[0].Members) != 0 {
				t.Fatalf("after leave: %+v", dr.Groups[0])
			}
		})
	}
}

// TestJoinGroupErrors: invalid requests and a member rejoining with
// another protocol type.
func TestJoinGroupErrors(t *testing.T) {
	b := groupHarness(t)
	waitCoordinator(t, b, "e")
	req := joinReq(9, "", "", nil)
	if got := groupCall[*kmsg.JoinGroupResponse](t, b, req); got.ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatalf("empty group id: error %d", got.ErrorCode)
	}
	req = joinReq(9, "e", "", nil)
	req.SessionTimeoutMillis = 1
	if got := groupCall[*kmsg.JoinGroupResponse](t, b, req); got.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("session timeout 1ms: error %d", got.ErrorCode)
	}
	if got := groupCall[*kmsg.JoinGroupResponse](t, b, joinReq(9, "e", "made-up", nil)); got.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member id: error %d", got.ErrorCode)
	}
	joinAlone(t, b, 9, "e", nil)
	other := joinReq(9, "e", "", nil)
	other.ProtocolType = "connect"
	if got := groupCall[*kmsg.JoinGroupResponse](t, b, other); got.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("other protocol type: error %d", got.ErrorCode)
	}
	s := kmsg.NewPtrSyncGroupRequest()
	s.Group, s.MemberID, s.Generation = "e", "nobody", 1
	if got := groupCall[*kmsg.SyncGroupResponse](t, b, s); got.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("sync of an unknown member: error %d", got.ErrorCode)
	}
}
