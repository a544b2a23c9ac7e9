package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups (key 42): versions 0-2. Empty groups are removed with
// their offsets (tombstones in __consumer_offsets, answered once
// replicated); GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, NOT_COORDINATOR per
// group.
//
// Version notes: v1 changes nothing on the wire; v2 is flexible.
func init() { Register(API{Key: 42, MinVersion: 0, MaxVersion: 2, Handle: handleDeleteGroups}) }

func handleDeleteGroups(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DeleteGroupsRequest)
	if b.Groups == nil {
		resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
		for _, id := range req.Groups {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group, g.ErrorCode = id, noGroups.Code
			resp.Groups = append(resp.Groups, g)
		}
		return resp, nil
	}
	return r.Defer(func(ctx context.Context) (kmsg.Response, error) {
		return b.Groups.DeleteGroups(ctx, req), nil
	})
}
