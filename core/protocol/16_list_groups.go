package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups (key 16): versions 0-5. The groups this broker coordinates
// (a client asks every broker); COORDINATOR_LOAD_IN_PROGRESS while one of
// its partitions of __consumer_offsets loads.
//
// Version notes: v1 adds throttle time; v3 is flexible; v4 (KIP-518)
// filters by state and returns it; v5 (KIP-848) filters by type and
// returns it ("classic" for every group here).
func init() { Register(API{Key: 16, MinVersion: 0, MaxVersion: 5, Handle: handleListGroups}) }

func handleListGroups(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.ListGroupsRequest)
	if b.Groups == nil {
		resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
		resp.ErrorCode = noGroups.Code
		return resp, nil
	}
	return b.Groups.ListGroups(ctx, req), nil
}
