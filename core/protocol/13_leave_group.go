package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaveGroup (key 13): versions 0-5. Members leave, starting a rebalance
// of the others.
//
// Version notes: v0-2 name one member (MemberID) and answer with a
// top-level error; v3 (KIP-345) takes a batch of members, each by member
// id and/or group instance id, with an error per member; v4 is flexible;
// v5 adds a reason.
func init() { Register(API{Key: 13, MinVersion: 0, MaxVersion: 5, Handle: handleLeaveGroup}) }

func handleLeaveGroup(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.LeaveGroupRequest)
	if b.Groups == nil {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = noGroups.Code
		return resp, nil
	}
	if req.Version <= 2 {
		batch := *req
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = req.MemberID
		batch.Members = []kmsg.LeaveGroupRequestMember{m}
		resp := b.Groups.LeaveGroup(ctx, &batch)
		if resp.ErrorCode == 0 && len(resp.Members) == 1 {
			resp.ErrorCode = resp.Members[0].ErrorCode
		}
		resp.Members = nil
		return resp, nil
	}
	return b.Groups.LeaveGroup(ctx, req), nil
}
