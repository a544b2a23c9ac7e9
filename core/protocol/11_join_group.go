package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup (key 11): versions 0-9, Kafka's classic group protocol (see
// core/group). The answer waits for the rebalance, so the handler defers
// it; the connection keeps reading meanwhile.
//
// Version notes: v0 has no rebalance timeout (the session timeout is
// used); v4 (KIP-394) answers a new member MEMBER_ID_REQUIRED with its id;
// v5 (KIP-345) adds group.instance.id (static members); v6 is flexible;
// v7 returns the protocol type and name; v8 adds a reason; v9 (KIP-814)
// tells a rejoining static leader it may skip the assignment.
func init() { Register(API{Key: 11, MinVersion: 0, MaxVersion: 9, Handle: handleJoinGroup}) }

func handleJoinGroup(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.JoinGroupRequest)
	if b.Groups == nil {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation, resp.MemberID = noGroups.Code, -1, req.MemberID
		return resp, nil
	}
	client := clientOf(r)
	return r.Defer(func(ctx context.Context) (kmsg.Response, error) {
		return b.Groups.JoinGroup(ctx, req, client), nil
	})
}
