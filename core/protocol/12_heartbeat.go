package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat (key 12): versions 0-4. A member keeps its session alive and
// learns of rebalances (REBALANCE_IN_PROGRESS).
//
// Version notes: v1 adds throttle time; v3 (KIP-345) the group instance
// id; v4 is flexible.
func init() { Register(API{Key: 12, MinVersion: 0, MaxVersion: 4, Handle: handleHeartbeat}) }

func handleHeartbeat(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.HeartbeatRequest)
	if b.Groups == nil {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = noGroups.Code
		return resp, nil
	}
	return b.Groups.Heartbeat(ctx, req), nil
}
