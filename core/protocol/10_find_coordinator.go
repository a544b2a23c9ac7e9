package protocol

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/group"
)

// FindCoordinator (key 10): versions 0-6.
//
// A group's coordinator is the live leader of the group's partition of
// __consumer_offsets (abs(Java hashCode(group)) mod its partition count),
// read from the metadata image: every broker gives the same answer, never
// a guess. While the topic does not exist (its creation is started by the
// first request) or the partition has no live leader the answer is
// COORDINATOR_NOT_AVAILABLE (retriable). Transaction (type 1) and share
// (type 2) coordinators are not supported: INVALID_REQUEST.
//
// Version notes: v0 has one group key; v1 adds the key type, an error
// message and throttle time; v3 is flexible; v4 (KIP-699) batches keys in
// CoordinatorKeys with a result per key; v5, v6 change nothing for groups.
func init() { Register(API{Key: 10, MinVersion: 0, MaxVersion: 6, Handle: handleFindCoordinator}) }

func handleFindCoordinator(_ context.Context, b *Broker, r *Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version <= 3 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Port = -1, -1
		fail := func(e *kerr.Error, msg string) {
			c.ErrorCode = e.Code
			c.ErrorMessage = &msg
		}
		switch {
		case req.CoordinatorType != 0:
			fail(kerr.InvalidRequest, "only group coordinators (key type 0) are supported")
		case b.Groups == nil:
			fail(noGroups, "this broker has no group coordinator")
		default:
			br, err := b.Groups.Coordinator(key)
			switch {
			case err == nil && len(br.Listeners) > 0:
				c.NodeID, c.Host, c.Port = br.ID, br.Listeners[0].Host, br.Listeners[0].Port
			case err == nil || errors.Is(err, group.ErrCoordinatorNotAvailable):
				fail(kerr.CoordinatorNotAvailable, "the group coordinator is not available yet")
			default:
				fail(kerr.UnknownServerError, err.Error())
			}
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version <= 3 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
		if c.ErrorCode != 0 {
			resp.ErrorMessage = c.ErrorMessage
		}
	}
	return resp, nil
}
