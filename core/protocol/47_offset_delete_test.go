package protocol_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/group"
)

// TestGroupsAcrossTwoBrokers: with two brokers, every broker names the
// same coordinator for a group (the leader of its __consumer_offsets
// partition), the other broker answers NOT_COORDINATOR, and a group
// consumer bootstrapped from either broker consumes, commits and resumes
// through the coordinator wherever it is.
func TestGroupsAcrossTwoBrokers(t *testing.T) {
	st := e2eStore(t)
	b1 := startGroupBroker(t, st, 1, t.TempDir(), "", groupTestConfig())
	b2 := startGroupBroker(t, st, 2, t.TempDir(), "", groupTestConfig())
	eventually(t, "both brokers see each other", func() bool {
		return len(b1.cl.Image().LiveBrokers()) == 2 && len(b2.cl.Image().LiveBrokers()) == 2
	})
	c1, c2 := e2eClient(t, b1.addr), e2eClient(t, b2.addr)

	find := func(cl *kgo.Client, key string) *kmsg.FindCoordinatorResponse {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = key
		req.CoordinatorKeys = []string{key}
		resp, err := req.RequestWith(e2eCtx(t), pinned(cl))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version >= 4 && len(resp.Coordinators) == 1 { // kgo sends the batched form
			c := resp.Coordinators[0]
			resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
		}
		return resp
	}
	eventually(t, "the offsets topic", func() bool { return find(c1, "x").ErrorCode == 0 })
	// Broker 1 created the offsets topic; broker 2 learns of it through
	// its own image, a moment later (until then it answers
	// COORDINATOR_NOT_AVAILABLE, which clients retry).
	eventually(t, "broker 2 knows the offsets topic", func() bool { return find(c2, "x").ErrorCode == 0 })
	tp, _ := b1.cl.Image().Topic(group.OffsetsTopic)
	// A group coordinated by each broker.
	groups := map[int32]string{}
	for i := 0; len(groups) < 2 && i < 1000; i++ {
		g := fmt.Sprintf("group-%d", i)
		groups[tp.Partitions[group.PartitionFor(g, int32(len(tp.Partitions)))].Leader] = g
	}
	if len(groups) != 2 {
		t.Fatalf("offsets topic leaders: %+v", tp.Partitions)
	}
	for leader, g := range groups {
		for _, cl := range []*kgo.Client{c1, c2} {
			if r := find(cl, g); r.ErrorCode != 0 || r.NodeID != leader {
				t.Fatalf("FindCoordinator(%s): %+v, want node %d", g, r, leader)
			}
		}
		wrong := c1
		if leader == 1 {
			wrong = c2
		}
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.MemberID, hb.Generation = g, "m", 1
		resp, err := hb.RequestWith(e2eCtx(t), pinned(wrong))
		if err != nil || resp.ErrorCode != kerr.NotCoordinator.Code {
			t.Fatalf("heartbeat for %s at the wrong broker: %v %v", g, resp, err)
		}
		oc := kmsg.NewPtrOffsetFetchRequest()
		rg := kmsg.NewOffsetFetchRequestGroup()
		oc.Group, rg.Group = g, g
		oc.Groups = append(oc.Groups, rg)
		fr, err := oc.RequestWith(e2eCtx(t), pinned(wrong))
		if err == nil && fr.Version >= 8 && len(fr.Groups) == 1 { // kgo sends the batched form
			fr.ErrorCode = fr.Groups[0].ErrorCode
		}
		if err != nil || fr.ErrorCode != kerr.NotCoordinator.Code {
			t.Fatalf("offset fetch for %s at the wrong broker: %v %v", g, fr, err)
		}
	}

	createTopic(t, b1.addr, "orders", 4)
	produceN(t, b1.addr, "orders", "a", 20)
	total := 20
	for leader, g := range groups {
		opts := []kgo.Opt{kgo.ConsumerGroup(g), kgo.ConsumeTopics("orders"), kgo.DisableAutoCommit(), kgo.HeartbeatInterval(100 * time.Millisecond)}
		// Bootstrapped from broker 1: everything so far, committed.
		c := e2eClient(t, b1.addr, opts...)
		if got := consumeUntil(t, c, total); len(got) != total {
			t.Fatalf("%s (coordinator %d) via broker 1: read %d records, want %d", g, leader, len(got), total)
		}
		if err := c.CommitUncommittedOffsets(e2eCtx(t)); err != nil {
			t.Fatalf("%s: commit: %v", g, err)
		}
		c.Close()
		// Bootstrapped from broker 2: only what came after the commit.
		produceN(t, b1.addr, "orders", "n-"+g, 20)
		total += 20
		c = e2eClient(t, b2.addr, opts...)
		if got := consumeUntil(t, c, 20); !slices.Equal(sorted(got), values("n-"+g, 0, 20)) {
			t.Fatalf("%s (coordinator %d) via broker 2: resumed and read %v", g, leader, sorted(got))
		}
		c.Close()
	}
}
