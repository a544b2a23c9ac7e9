package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// failsByDeadline checks that call, given a context with a deadline of
// within, fails with ErrUnavailable (and DeadlineExceeded) no later than
// shortly after that deadline.
func failsByDeadline(t *testing.T, what string, within time.Duration, call func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	began := time.Now()
	err := call(ctx)
	took := time.Since(began)
	if !errors.Is(err, metadata.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%s: %v, want ErrUnavailable and DeadlineExceeded", what, err)
	}
	if took > within+200*time.Millisecond {
		t.Errorf("%s returned after %v, deadline %v", what, took, within)
	}
}

// TestMembershipFreshNonvoter adds a fresh node directly as a non-voter
// (never a voter first): it catches up on what was committed before it
// joined, serves linearizable Snapshots (a write acknowledged on the
// leader is in the non-voter's next Snapshot, with no waiting), forwards
// its writes, and does not count for the quorum: with two voters and the
// non-voter, losing one voter stops writes.
func TestMembershipFreshNonvoter(t *testing.T) {
	c := newTestCluster(t, 2, nil)
	ctx := testCtx(t, 30*time.Second)
	li, err := c.leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	leader, follower := c.node(li), c.node(followerOf(c, li))
	if _, err := leader.CreateTopic(ctx, testSpec("before-join")); err != nil {
		t.Fatal(err)
	}
	before, err := leader.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}

	nv, addr := c.startFresh(t, "nv")
	// Added through the follower: forwarded to the leader.
	if err := follower.AddMember(ctx, metadata.Member{ID: "nv", Address: addr, Voter: false}); err != nil {
		t.Fatal(err)
	}
	for _, nd := range []*Node{leader, follower} {
		ms := members(t, ctx, nd)
		if m, ok := ms["nv"]; !ok || m.Voter || m.Address != addr || len(ms) != 3 {
			t.Fatalf("node %s after adding nv as a non-voter: %+v", nd.o.nodeID, ms)
		}
	}
	if got := c.node(li).raft.GetConfiguration().Configuration(); !hasSuffrage(got, "nv", raft.Nonvoter) {
		t.Fatalf("raft configuration on the leader: %+v", got)
	}
	// It catches up: its first Snapshot has everything committed before it
	// joined, under the same cluster id.
	st, err := nv.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Topics["before-join"]; !ok || st.ClusterID != before.ClusterID || st.Revision < before.Revision {
		t.Fatalf("the non-voter's first Snapshot: revision %d cluster %q topics %v; want at least %d, %q, before-join",
			st.Revision, st.ClusterID, st.Topics, before.Revision, before.ClusterID)
	}
	if in, err := nv.Info(ctx); err != nil || in.Leader != leader.o.nodeID {
		t.Fatalf("the non-voter's Info: %+v, %v; want leader %s", in, err, leader.o.nodeID)
	}
	// Linearizable reads on the non-voter, and writes through it.
	for i := range 5 {
		name := "lin-" + strconv.Itoa(i)
		if _, err := leader.CreateTopic(ctx, testSpec(name)); err != nil {
			t.Fatal(err)
		}
		st, err := nv.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Topics[name]; !ok {
			t.Fatalf("a Snapshot on the non-voter right after CreateTopic(%s) on the leader lacks it (revision %d)", name, st.Revision)
		}
		first, err := nv.AllocateProducerIDs(ctx, 3)
		if err != nil {
			t.Fatalf("write through the non-voter: %v", err)
		}
		st, err = follower.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.NextProducerID != first+3 {
			t.Fatalf("follower's Snapshot after the non-voter allocated [%d,%d): next producer id %d", first, first+3, st.NextProducerID)
		}
	}
	reg, err := nv.RegisterBroker(ctx, testReg(9, "nv"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nv.Heartbeat(ctx, 9, reg.Epoch); err != nil {
		t.Fatalf("heartbeat through the non-voter: %v", err)
	}

	// The non-voter does not vote: one voter of two is no quorum although
	// two of three nodes run. (Were nv a voter, 2 of 3 would be.)
	fi := followerOf(c, li)
	if err := c.Kill(fi); err != nil {
		t.Fatal(err)
	}
	failsByDeadline(t, "a write with one of two voters and the non-voter up", time.Second, func(ctx context.Context) error {
		_, err := nv.AllocateProducerIDs(ctx, 1)
		return err
	})
	if nv.raft.State() == raft.Leader || nv.raft.State() == raft.Candidate {
		t.Errorf("the non-voter is %v", nv.raft.State())
	}
	if err := c.Restart(fi); err != nil {
		t.Fatal(err)
	}
	if _, err := nv.AllocateProducerIDs(ctx, 1); err != nil {
		t.Fatalf("write through the non-voter once both voters run again: %v", err)
	}
}

func hasSuffrage(cfg raft.Configuration, id string, s raft.ServerSuffrage) bool {
	srv, ok := findServer(cfg, raft.ServerID(id))
	return ok && srv.Suffrage == s
}

// TestMembershipRemoveLeader removes the current leader, once by a call on
// the leader itself and once by a call on a follower: each call succeeds,
// the rest elect a new leader among themselves and take writes and reads,
// and the removed node takes no part any more (see RemoveMember): it is
// not in the others' configuration, does not lead or stand for election,
// and its own calls fail with ErrUnavailable by their deadline (no leader
// tells it anything). Added back, it catches up.
func TestMembershipRemoveLeader(t *testing.T) {
	for _, through := range []string{"leader", "follower"} {
		t.Run("through-"+through, func(t *testing.T) {
			c := newTestCluster(t, 3, nil)
			ctx := testCtx(t, 30*time.Second)
			li, err := c.leader(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			old := c.node(li)
			caller := old
			if through == "follower" {
				caller = c.node(followerOf(c, li))
			}
			if _, err := old.CreateTopic(ctx, testSpec("before")); err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = caller.RemoveMember(rctx, old.o.nodeID)
			cancel()
			if err != nil {
				t.Fatalf("RemoveMember(%s) on the %s: %v", old.o.nodeID, through, err)
			}
			// A new leader among the others; the removed node is gone from
			// their configuration.
			var rest []*Node
			for i := range c.N() {
				if i != li {
					rest = append(rest, c.node(i))
				}
			}
			eventually(t, 10*time.Second, "a new leader among the remaining nodes", func() error {
				for _, nd := range rest {
					if nd.isReady() {
						return nil
					}
				}
				return errors.New("none ready")
			})
			for _, nd := range rest {
				ms := members(t, ctx, nd)
				if _, ok := ms[old.o.nodeID]; ok || len(ms) != 2 {
					t.Fatalf("node %s's members after removing the leader %s: %+v", nd.o.nodeID, old.o.nodeID, ms)
				}
			}
			// Writes and reads continue, through both remaining nodes.
			for i, nd := range rest {
				name := fmt.Sprintf("after-%d", i)
				if _, err := nd.CreateTopic(ctx, testSpec(name)); err != nil {
					t.Fatalf("write through node %s after removing the leader: %v", nd.o.nodeID, err)
				}
				st, err := rest[1-i].Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := st.Topics[name]; !ok {
					t.Fatalf("node %s's Snapshot lacks %s", rest[1-i].o.nodeID, name)
				}
				if _, ok := st.Topics["before"]; !ok {
					t.Fatalf("node %s's Snapshot lacks the topic created before the removal", rest[1-i].o.nodeID)
				}
			}
			// The removed node stepped down and stays out. No leader contacts
			// it any more: once it noticed (a heartbeat timeout), it knows no
			// leader and its calls fail by their deadline.
			if s := old.raft.State(); s == raft.Leader || old.isReady() {
				t.Errorf("the removed leader is %v (ready %v)", s, old.isReady())
			}
			nl, err := c.leader(time.Second)
			if err != nil {
				t.Fatal(err)
			}
			term := c.node(nl).raft.CurrentTerm()
			eventually(t, 5*time.Second, "the removed node knowing no leader", func() error {
				if addr, id := old.raft.LeaderWithID(); addr != "" {
					return fmt.Errorf("it follows %s at %s", id, addr)
				}
				return nil
			})
			failsByDeadline(t, "a write on the removed node", time.Second, func(ctx context.Context) error {
				_, err := old.AllocateProducerIDs(ctx, 1)
				return err
			})
			failsByDeadline(t, "a Snapshot on the removed node", time.Second, func(ctx context.Context) error {
				_, err := old.Snapshot(ctx)
				return err
			})
			failsByDeadline(t, "a heartbeat on the removed node", 500*time.Millisecond, func(ctx context.Context) error {
				_, err := old.Heartbeat(ctx, 1, 1)
				return err
			})
			// Meanwhile (several heartbeat timeouts) it did not disturb the
			// rest: same ready leader, same term, and it does not lead.
			if s := old.raft.State(); s == raft.Leader {
				t.Errorf("the removed node is %v", s)
			}
			if now, err := c.leader(time.Second); err != nil || now != nl || c.node(nl).raft.CurrentTerm() != term {
				t.Errorf("leader %d term %d after the removed node's calls, was %d term %d (%v)", now, c.node(nl).raft.CurrentTerm(), nl, term, err)
			}
			if _, err := c.node(nl).AllocateProducerIDs(ctx, 1); err != nil {
				t.Fatal(err)
			}
			// Added back (as a voter), it catches up and serves again.
			if err := rest[0].AddMember(ctx, metadata.Member{ID: old.o.nodeID, Address: old.o.advertise, Voter: true}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the re-added node catching up", func() error {
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				st, err := old.Snapshot(cctx)
				if err != nil {
					return err
				}
				if _, ok := st.Topics["after-1"]; !ok {
					return errors.New("topic written while it was removed missing")
				}
				return nil
			})
		})
	}
}

// TestRestartWithOtherPeers restarts nodes that have Raft state with a
// peer list different from the one they bootstrapped with: they do not
// bootstrap again and keep their stored configuration and data. A
// one-node cluster restarted with a three-peer list is still a one-node
// cluster that leads, reads and writes on its own; a node of a three-node
// cluster restarted with only itself listed does not become a one-node
// cluster (no leader, no split brain) and serves once a second member of
// its stored configuration is back.
func TestRestartWithOtherPeers(t *testing.T) {
	t.Run("one-to-three", func(t *testing.T) {
		c := newTestCluster(t, 1, nil)
		ctx := testCtx(t, 20*time.Second)
		nd := c.node(0)
		if _, err := nd.CreateTopic(ctx, testSpec("kept")); err != nil {
			t.Fatal(err)
		}
		before, err := nd.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Stop(0); err != nil {
			t.Fatal(err)
		}
		// Two peers that do not exist: were they in the configuration, the
		// node could not win an election alone.
		self := c.confs[0].Peers[0]
		c.confs[0].Peers = []metadata.Peer{self, {ID: "1", Address: "127.0.0.1:1"}, {ID: "2", Address: "127.0.0.1:2"}}
		if err := c.Restart(0); err != nil {
			t.Fatal(err)
		}
		if _, err := c.leader(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		nd = c.node(0)
		ms := members(t, ctx, nd)
		if len(ms) != 1 || !ms[self.ID].Voter || ms[self.ID].Address != self.Address {
			t.Fatalf("members after a restart with three peers listed: %+v, want only %s", ms, self.ID)
		}
		st, err := nd.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Topics["kept"]; !ok || st.ClusterID != before.ClusterID || st.Revision < before.Revision {
			t.Fatalf("after the restart: revision %d cluster %q topics %v; want at least %d, %q, kept",
				st.Revision, st.ClusterID, st.Topics, before.Revision, before.ClusterID)
		}
		if _, err := nd.CreateTopic(ctx, testSpec("after")); err != nil {
			t.Fatal(err)
		}
		if st, err = nd.Snapshot(ctx); err != nil {
			t.Fatal(err)
		} else if _, ok := st.Topics["after"]; !ok {
			t.Fatal("a write after the restart is not in the next Snapshot")
		}
	})
	t.Run("three-to-one", func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		ctx := testCtx(t, 20*time.Second)
		if _, err := c.node(0).CreateTopic(ctx, testSpec("kept")); err != nil {
			t.Fatal(err)
		}
		before, err := c.node(0).Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := c.Stop(i); err != nil {
				t.Fatal(err)
			}
		}
		c.confs[0].Peers = []metadata.Peer{c.confs[0].Peers[0]}
		if err := c.Restart(0); err != nil {
			t.Fatal(err)
		}
		nd := c.node(0)
		if ms := members(t, ctx, nd); len(ms) != 3 {
			t.Fatalf("members after a restart with only itself listed: %+v, want the stored three", ms)
		}
		failsByDeadline(t, "a Snapshot on one of three stored voters", 1500*time.Millisecond, func(ctx context.Context) error {
			_, err := nd.Snapshot(ctx)
			return err
		})
		if s := nd.raft.State(); s == raft.Leader {
			t.Fatal("a node with one of three stored voters up leads")
		}
		if err := c.Restart(1); err != nil {
			t.Fatal(err)
		}
		if err := c.waitServing(0, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		st, err := nd.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Topics["kept"]; !ok || st.ClusterID != before.ClusterID {
			t.Fatalf("after the restart: cluster %q topics %v; want %q, kept", st.ClusterID, st.Topics, before.ClusterID)
		}
		if _, err := nd.AllocateProducerIDs(ctx, 1); err != nil {
			t.Fatal(err)
		}
	})
}
