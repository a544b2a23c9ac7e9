package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete (key 47): version 0. Committed offsets of a group are
// removed (tombstones, answered once replicated), except for topics its
// members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC per partition);
// GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP for a group
// with members that does not use the consumer protocol.
func init() { Register(API{Key: 47, MinVersion: 0, MaxVersion: 0, Handle: handleOffsetDelete}) }

func handleOffsetDelete(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.OffsetDeleteRequest)
	if b.Groups == nil {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = noGroups.Code
		return resp, nil
	}
	return r.Defer(func(ctx context.Context) (kmsg.Response, error) {
		return b.Groups.OffsetDelete(ctx, req), nil
	})
}
