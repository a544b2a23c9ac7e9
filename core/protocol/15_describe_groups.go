package protocol

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups (key 15): versions 0-6. State, protocol and members of
// groups this broker coordinates (NOT_COORDINATOR for others); member
// metadata and assignments only for Stable groups, as in Kafka.
//
// Version notes: v1 adds throttle time; v3 authorized operations (no ACLs
// here: every group operation); v4 (KIP-345) member instance ids; v5 is
// flexible; v6 answers GROUP_ID_NOT_FOUND for a group that does not exist
// (earlier versions: state Dead, no error).
func init() { Register(API{Key: 15, MinVersion: 0, MaxVersion: 6, Handle: handleDescribeGroups}) }

func handleDescribeGroups(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DescribeGroupsRequest)
	if b.Groups == nil {
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, id := range req.Groups {
			g := kmsg.NewDescribeGroupsResponseGroup()
			g.Group, g.ErrorCode = id, noGroups.Code
			resp.Groups = append(resp.Groups, g)
		}
		return resp, nil
	}
	return b.Groups.DescribeGroups(ctx, req), nil
}
