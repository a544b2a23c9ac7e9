package group

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// In-package harness: broker 1's cluster membership over the memory
// backend, its partition manager on t.TempDir() and a Coordinator over
// them — every part real, without a Kafka listener.

const testWait = 10 * time.Second

type harness struct {
	st    *memory.Store
	cl    *cluster.Cluster
	parts *partition.Manager
	c     *Coordinator
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", testWait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newHarness(t testing.TB, tune ...func(*Config)) *harness {
	t.Helper()
	brokertest.LeakCheck(t)
	st, err := memory.NewStore(memory.Config{NodeID: "store", SessionTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ccfg := cluster.DefaultConfig()
	ccfg.BrokerID = 1
	ccfg.Listeners = []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9001}}
	ccfg.HeartbeatInterval = 50 * time.Millisecond
	ccfg.RetryBackoff, ccfg.MaxRetryBackoff = 10*time.Millisecond, 50*time.Millisecond
	ccfg.CallTimeout, ccfg.ShutdownTimeout = time.Second, time.Second
	cl, err := cluster.New(ccfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	if err := cl.WaitReady(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	pcfg := partition.DefaultConfig()
	pcfg.DataDir = t.TempDir()
	parts, err := partition.New(pcfg, cl, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = parts.Close() })
	if err := parts.Start(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.OffsetsTopicPartitions = 2
	cfg.InitialRebalanceDelay = 0
	cfg.MinSessionTimeout = 50 * time.Millisecond
	cfg.RetryInterval = 20 * time.Millisecond
	for _, f := range tune {
		f(&cfg)
	}
	c, err := New(cfg, cl, parts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	h := &harness{st: st, cl: cl, parts: parts, c: c}
	waitUntil(t, "every offsets topic partition loaded", func() bool {
		if _, err := c.Coordinator("x"); err != nil {
			return false
		}
		shards, loading := c.loadedShards()
		return !loading && len(shards) == int(cfg.OffsetsTopicPartitions)
	})
	return h
}

func join(t testing.TB, c *Coordinator, group, member string, sessionMs int32) *kmsg.JoinGroupResponse {
	t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.MemberID, req.ProtocolType = 9, group, member, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = sessionMs, 5000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte("m")
	req.Protocols = append(req.Protocols, p)
	return c.JoinGroup(testCtx(t), req, Client{ID: "test", Host: "/127.0.0.1"})
}

func heartbeatCode(c *Coordinator, group, member string, gen int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	return c.Heartbeat(context.Background(), req).ErrorCode
}

// TestLoadInProgressAndNotCoordinator: while a partition loads, its groups'
// requests answer COORDINATOR_LOAD_IN_PROGRESS (ListGroups too); when
// this broker loses the partition's leadership, its groups answer
// NOT_COORDINATOR, a JoinGroup waiting for a rebalance is released with it,
// and FindCoordinator has no coordinator to name.
func TestLoadInProgressAndNotCoordinator(t *testing.T) {
	h := newHarness(t)
	const g = "moving"
	first := join(t, h.c, g, "", 5000)
	if first.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: %d", first.ErrorCode)
	}
	a := join(t, h.c, g, first.MemberID, 5000)
	if a.ErrorCode != 0 {
		t.Fatalf("join: %d", a.ErrorCode)
	}

	idx := PartitionFor(g, 2)
	h.c.mu.RLock()
	s := h.c.shards[idx]
	h.c.mu.RUnlock()
	s.loading.Store(true)
	if code := heartbeatCode(h.c, g, a.MemberID, a.Generation); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("heartbeat while loading: %d", code)
	}
	if resp := h.c.ListGroups(context.Background(), kmsg.NewPtrListGroupsRequest()); resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("list groups while loading: %d", resp.ErrorCode)
	}
	s.loading.Store(false)
	if code := heartbeatCode(h.c, g, a.MemberID, a.Generation); code != 0 {
		t.Fatalf("heartbeat after loading: %d", code)
	}

	// A second member's join waits for the first to rejoin.
	second := join(t, h.c, g, "", 5000)
	waiting := make(chan int16, 1)
	go func() {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version, req.Group, req.MemberID, req.ProtocolType = 9, g, second.MemberID, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 5000, 5000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		req.Protocols = append(req.Protocols, p)
		waiting <- h.c.JoinGroup(context.Background(), req, Client{}).ErrorCode
	}()
	waitUntil(t, "rebalance started", func() bool {
		return heartbeatCode(h.c, g, a.MemberID, a.Generation) == kerr.RebalanceInProgress.Code
	})

	// The partition loses its leader (as when broker 1 is fenced).
	part, _ := h.cl.Image().Partition(OffsetsTopic, idx)
	if _, err := h.st.AlterPartition(testCtx(t), metadata.PartitionChange{Topic: OffsetsTopic, Partition: idx,
		ExpectedPartitionEpoch: part.PartitionEpoch, Leader: metadata.NoLeader, ISR: []int32{1}}); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-waiting:
		if code != kerr.NotCoordinator.Code {
			t.Fatalf("waiting join released with %d, want NOT_COORDINATOR", code)
		}
	case <-time.After(testWait):
		t.Fatal("waiting join not released")
	}
	if code := heartbeatCode(h.c, g, a.MemberID, a.Generation); code != kerr.NotCoordinator.Code {
		t.Fatalf("heartbeat after leadership moved: %d", code)
	}
	if b, err := h.c.Coordinator(g); !errors.Is(err, ErrCoordinatorNotAvailable) {
		t.Fatalf("coordinator without a leader: %+v %v", b, err)
	}
}

// TestSyncTimeout: a member that joins but never sends SyncGroup is
// removed after the rebalance timeout although it heartbeats, and the
// group goes back to Empty.
func TestSyncTimeout(t *testing.T) {
	h := newHarness(t)
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.ProtocolType = 3, "nosync", "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 5000, 200
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	req.Protocols = append(req.Protocols, p)
	j := h.c.JoinGroup(testCtx(t), req, Client{})
	if j.ErrorCode != 0 {
		t.Fatalf("join: %d", j.ErrorCode)
	}
	start := time.Now()
	waitUntil(t, "member removed", func() bool {
		return heartbeatCode(h.c, "nosync", j.MemberID, j.Generation) == kerr.UnknownMemberID.Code
	})
	if since := time.Since(start); since < 150*time.Millisecond {
		t.Fatalf("removed after %v, before the rebalance timeout", since)
	}
	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Groups = []string{"nosync"}
	if got := h.c.DescribeGroups(context.Background(), d).Groups[0]; got.State != "Empty" {
		t.Fatalf("group: %+v", got)
	}
}
