package protocol

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/group"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/core/wire"
)

// In-package tests of the group APIs at every advertised version, through
// the wire codec both ways (groupCall), against a Broker with a real
// cluster (memory backend), partition manager and group coordinator.

// groupHarness returns broker 1 with a group coordinator whose offsets
// topic has 3 partitions, all led by it.
func groupHarness(t *testing.T, tune ...func(*group.Config)) *Broker {
	t.Helper()
	st, b := oneBroker(t)
	pcfg := partition.DefaultConfig()
	pcfg.DataDir = t.TempDir()
	parts, err := partition.New(pcfg, b.Cluster, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = parts.Close() })
	if err := parts.Start(); err != nil {
		t.Fatal(err)
	}
	gcfg := group.DefaultConfig()
	gcfg.OffsetsTopicPartitions = 3
	gcfg.InitialRebalanceDelay = 0
	gcfg.MinSessionTimeout = 50 * time.Millisecond
	gcfg.RetryInterval = 20 * time.Millisecond
	for _, f := range tune {
		f(&gcfg)
	}
	groups, err := group.New(gcfg, b.Cluster, parts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = groups.Close() })
	if err := groups.Start(); err != nil {
		t.Fatal(err)
	}
	b.Partitions, b.Groups = parts, groups
	return b
}

// groupCall is call for APIs that may defer their answer: it runs the
// deferred function and decodes its response. It fails the test on any
// problem (call it from the test goroutine; others use groupCallE).
func groupCall[T kmsg.Response](t *testing.T, b *Broker, req kmsg.Request) T {
	t.Helper()
	resp, err := groupCallE[T](harnessCtx(t), b, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// groupCallE is groupCall returning its problems.
func groupCallE[T kmsg.Response](ctx context.Context, b *Broker, req kmsg.Request) (T, error) {
	var zero T
	name := fmt.Sprintf("%s v%d", kmsg.NameForKey(req.Key()), req.GetVersion())
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("harness")).AppendRequest(nil, req, 7)[4:]
	var h wire.Header
	body, rest, err := wire.ParseHeader(frame, &h)
	if err != nil {
		return zero, fmt.Errorf("%s: parse header: %w", name, err)
	}
	api, ok := b.APIs().Lookup(h.Key)
	if !ok || !api.Supports(h.Version) {
		return zero, fmt.Errorf("%s is not served", name)
	}
	if err := wire.DecodeBody(body, rest); err != nil {
		return zero, fmt.Errorf("%s: decode: %w", name, err)
	}
	r := &Request{Header: h, Body: body, RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, Logger: slog.New(slog.DiscardHandler)}
	resp, err := api.Handle(ctx, b, r)
	if err == nil && resp == nil && r.Deferred() != nil {
		resp, err = r.Deferred()(ctx)
	}
	if err != nil || resp == nil {
		return zero, fmt.Errorf("%s: handler: %v (response %v)", name, err, resp)
	}
	out := wire.AppendResponse(nil, h.CorrelationID, resp)
	got := req.ResponseKind()
	if corr, err := wire.ParseResponse(out[4:], got); err != nil || corr != 7 {
		return zero, fmt.Errorf("%s: response does not decode: %v", name, err)
	}
	return got.(T), nil
}

func findCoordinator(t *testing.T, b *Broker, version int16, keys ...string) *kmsg.FindCoordinatorResponse {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = version
	if version <= 3 {
		req.CoordinatorKey = keys[0]
	} else {
		req.CoordinatorKeys = keys
	}
	return groupCall[*kmsg.FindCoordinatorResponse](t, b, req)
}

// waitCoordinator waits until FindCoordinator names broker 1 for key (the
// first request creates the offsets topic) and every partition of the
// offsets topic is loaded.
func waitCoordinator(t *testing.T, b *Broker, key string) {
	t.Helper()
	waitFor(t, "coordinator of "+key, func() bool {
		resp := findCoordinator(t, b, 0, key)
		if resp.ErrorCode != 0 {
			return false
		}
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group = key
		got := groupCall[*kmsg.HeartbeatResponse](t, b, hb)
		if got.ErrorCode == kerr.CoordinatorLoadInProgress.Code || got.ErrorCode == kerr.NotCoordinator.Code ||
			got.ErrorCode == kerr.CoordinatorNotAvailable.Code {
			return false
		}
		// Every partition of the offsets topic loaded.
		return groupCall[*kmsg.ListGroupsResponse](t, b, kmsg.NewPtrListGroupsRequest()).ErrorCode == 0
	})
}

func TestFindCoordinatorVersions(t *testing.T) {
	b := groupHarness(t)
	resp := findCoordinator(t, b, 1, "g")
	if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("before the offsets topic exists: error %d, want COORDINATOR_NOT_AVAILABLE", resp.ErrorCode)
	}
	waitCoordinator(t, b, "g")
	img := b.Cluster.Image()
	if tp, ok := img.Topic(group.OffsetsTopic); !ok || len(tp.Partitions) != 3 || tp.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("offsets topic: %+v %v, want 3 partitions, compacted", tp, ok)
	}
	for v := int16(0); v <= 6; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			keys := []string{"g"}
			if v >= 4 {
				keys = []string{"g", "other", "third"}
			}
			resp := findCoordinator(t, b, v, keys...)
			if v <= 3 {
				if resp.ErrorCode != 0 || resp.NodeID != 1 || resp.Host != "127.0.0.1" || resp.Port != 9001 {
					t.Fatalf("v%d: %+v", v, resp)
				}
				return
			}
			if len(resp.Coordinators) != len(keys) {
				t.Fatalf("v%d: %d coordinators for %d keys", v, len(resp.Coordinators), len(keys))
			}
			for i, c := range resp.Coordinators {
				if c.Key != keys[i] || c.ErrorCode != 0 || c.NodeID != 1 || c.Port != 9001 {
					t.Fatalf("v%d key %s: %+v", v, keys[i], c)
				}
			}
		})
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorType, req.CoordinatorKey = 3, 1, "txn"
	if got := groupCall[*kmsg.FindCoordinatorResponse](t, b, req); got.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("transaction coordinator: error %d, want INVALID_REQUEST", got.ErrorCode)
	}
}
