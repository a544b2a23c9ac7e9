package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup (key 14): versions 0-5. The leader hands in the assignment,
// which is written to __consumer_offsets and then given to every member;
// the answer waits for it, so the handler defers it.
//
// Version notes: v1 adds throttle time; v3 (KIP-345) the group instance
// id; v4 is flexible; v5 carries the protocol type and name both ways
// (INCONSISTENT_GROUP_PROTOCOL on a mismatch).
func init() { Register(API{Key: 14, MinVersion: 0, MaxVersion: 5, Handle: handleSyncGroup}) }

func handleSyncGroup(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.SyncGroupRequest)
	if b.Groups == nil {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = noGroups.Code
		return resp, nil
	}
	return r.Defer(func(ctx context.Context) (kmsg.Response, error) {
		return b.Groups.SyncGroup(ctx, req), nil
	})
}
