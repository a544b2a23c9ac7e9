package protocol

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/group"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Groups is what the group APIs (FindCoordinator, JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups,
// ListGroups, DeleteGroups, OffsetDelete) need of the group coordinator
// (*group.Coordinator). Every method is safe for concurrent use. The
// request methods take a kmsg request at any version (in its batched form:
// the handlers turn single-key versions into it and back) and return the
// response at that version with Kafka errors as codes; they never fail
// otherwise. JoinGroup, SyncGroup, OffsetCommit, DeleteGroups and
// OffsetDelete may block (for a rebalance, or replication): handlers call
// them from Request.Defer; they return when ctx ends.
type Groups interface {
	// Coordinator returns the broker coordinating groupID, or an error
	// wrapping group.ErrCoordinatorNotAvailable (the offsets topic is being
	// created, or the group's partition has no live leader).
	Coordinator(groupID string) (metadata.Broker, error)
	JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, client group.Client) *kmsg.JoinGroupResponse
	SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse
	Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse
	LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse
	OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse
	OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse
	DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse
	ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse
	DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse
	OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse
}

var _ Groups = (*group.Coordinator)(nil)

// noGroups is the error of group APIs on a broker built without a
// coordinator (test brokers): retriable, as while the coordinator starts.
var noGroups = kerr.CoordinatorNotAvailable

// clientOf identifies the request's client for group membership: its
// client id and the host it connects from.
func clientOf(r *Request) group.Client {
	host := ""
	if r.RemoteAddr != nil {
		host = r.RemoteAddr.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return group.Client{ID: r.Header.ClientID, Host: "/" + host}
}

// groupsImage is b's metadata image, nil without one (a nil *cluster.Image
// answers as an empty cluster).
func groupsImage(b *Broker) *cluster.Image {
	if b.Cluster == nil {
		return nil
	}
	return b.Cluster.Image()
}
