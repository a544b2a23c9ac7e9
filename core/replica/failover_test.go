package replica_test

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-go/chronik/core/internal/brokertest"
)

// TestLeaderFailover: an idempotent acks=all producer writes to an RF=3
// topic at a steady rate; the broker leading partition 0 is shut down. The
// first live in-sync replica takes over with the leader epoch bumped, the
// producer continues, and every acknowledged record is read back exactly
// once and in order from the new leaders. Both for a broker that
// unregisters without handing its partitions over first (what
// ControlledShutdown falls back to; see TestControlledShutdown for the
// handoff) and a crash (its session expires: fenced).
func TestLeaderFailover(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := "unregistered"
		if crash {
			name = "crash" // no unregistration: fenced when its session expires
		}
		t.Run(name, func(t *testing.T) { testLeaderFailover(t, crash) })
	}
}

func testLeaderFailover(t *testing.T, crash bool) {
	st := newStore(t)
	nodes := startNodes(t, st, 3, testReplicaConfig(5*time.Second))
	const topic = "failover"
	createTopic(t, nodes, topic, 3, 3, nil)

	victim := leaderOf(t, nodes, topic, 0)
	before, _ := victim.cl.Image().Partition(topic, 0)

	acks := brokertest.ProduceSteadily(t, seeds(nodes), topic)
	brokertest.Poll(t, 20*time.Second, "records acknowledged before the kill", func() bool { return acks.Count() >= 200 })
	killedAt := acks.Count()
	killTime := time.Now()
	if crash {
		victim.crash()
	} else {
		victim.stop()
	}
	t.Logf("broker %d (leader of %s-0, epoch %d) shut down after %d acknowledged records", victim.id, topic, before.LeaderEpoch, killedAt)

	var live []*node
	for _, n := range nodes {
		if n != victim {
			live = append(live, n)
		}
	}
	brokertest.Poll(t, 20*time.Second, "a new leader for partition 0", func() bool {
		p, _ := live[0].cl.Image().Partition(topic, 0)
		return p.Leader != victim.id && p.Leader >= 0
	})
	after, _ := live[0].cl.Image().Partition(topic, 0)
	var wantLeader int32 = -1
	for _, id := range before.Replicas {
		if id != victim.id {
			wantLeader = id
			break
		}
	}
	if after.Leader != wantLeader || after.LeaderEpoch != before.LeaderEpoch+1 || slices.Contains(after.ISR, victim.id) {
		t.Fatalf("after the kill: %+v (before %+v); want leader %d (first live ISR replica), epoch +1, ISR without %d", after, before, wantLeader, victim.id)
	}
	brokertest.Poll(t, 30*time.Second, "the producer continuing on the new leaders", func() bool { return acks.Count() >= killedAt+500 })
	if err := acks.Stop(); err != nil {
		t.Fatal(err)
	}
	checkInOrder(t, acks, live, topic)
	for p := range int32(3) {
		waitReplicasMatch(t, live, topic, p)
	}
	var firstAck time.Time // of partition 0, after the kill
	for _, a := range acks.Acks() {
		if a.Partition == 0 && a.At.After(killTime) {
			firstAck = a.At
			break
		}
	}
	if firstAck.IsZero() {
		t.Fatalf("no record on partition 0 acknowledged after the kill (%d acknowledged after it on all partitions)", acks.Count()-killedAt)
	}
	took := firstAck.Sub(killTime)
	t.Logf("%d records acknowledged (%d after the kill), all read back once, in order; first acks=all on partition 0 %v after the kill",
		acks.Count(), acks.Count()-killedAt, took.Round(time.Millisecond))
	if limit := sessionTimeout + 2*time.Second; took > limit {
		t.Errorf("failover took %v, more than the session timeout + 2 s (%v)", took, limit)
	}
}

// TestNoLiveISRStaysOffline: RF=2, the follower falls out of the ISR, then
// the leader is shut down. The remaining replica is not in sync, so the
// partition stays without a leader (LEADER_NOT_AVAILABLE) — until the topic
// enables unclean.leader.election.enable, when it takes over.
func TestNoLiveISRStaysOffline(t *testing.T) {
	st := newStore(t)
	rcfg := testReplicaConfig(500 * time.Millisecond)
	nodes := startNodes(t, st, 2, rcfg)
	const topic = "offline"
	createTopic(t, nodes, topic, 1, 2, nil)
	all := newClient(t, nodes, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	produce(t, all, topic, 10, "in-sync")
	waitReplicasMatch(t, nodes, topic, 0)

	ld := leaderOf(t, nodes, topic, 0)
	other := nodes[0]
	if other == ld {
		other = nodes[1]
	}
	other.stopReplication()
	produce(t, all, topic, 5, "leader-only") // acknowledged once the ISR shrinks
	brokertest.Poll(t, 10*time.Second, "the ISR shrunk to the leader", func() bool {
		p, _ := other.cl.Image().Partition(topic, 0)
		return slices.Equal(p.ISR, []int32{ld.id})
	})
	ld.stop()
	other.startReplication(t)
	nodes = []*node{other}

	adm := kadm.NewClient(newClient(t, nodes))
	ctx := testCtx(t, 30*time.Second)
	offline := func() bool {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		p := md.Topics[topic].Partitions[0]
		return p.Leader == -1 && p.Err == kerr.LeaderNotAvailable
	}
	brokertest.Poll(t, 10*time.Second, "LEADER_NOT_AVAILABLE", offline)
	// A second later (several election checks) it is still offline.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if !offline() {
			p, _ := other.cl.Image().Partition(topic, 0)
			t.Fatalf("an out-of-sync replica took over without unclean leader election: %+v", p)
		}
		time.Sleep(50 * time.Millisecond)
	}

	enable := "true"
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "unclean.leader.election.enable", Value: &enable}}, topic); err != nil {
		t.Fatal(err)
	}
	brokertest.Poll(t, 10*time.Second, "unclean election", func() bool {
		p, _ := other.cl.Image().Partition(topic, 0)
		return p.Leader == other.id && slices.Equal(p.ISR, []int32{other.id})
	})
	// It serves what it has: the 10 records it replicated.
	got := consumeAll(t, nodes, topic, map[int32]int{0: 10})
	if len(got[0]) != 10 {
		t.Fatalf("after unclean election read %d records, want the 10 replicated", len(got[0]))
	}
	produce(t, all, topic, 3, "after-unclean")
}

// TestEmptyReplicaRefills: a broker restarted with an empty data directory
// is re-filled from the leaders: after the leader deleted records (its log
// start is above 0) the empty follower's first fetch is out of range, it
// restarts its log at the leader's log start, copies the rest
// byte-for-byte and rejoins the ISR.
func TestEmptyReplicaRefills(t *testing.T) {
	st := newStore(t)
	nodes := startNodes(t, st, 3, testReplicaConfig(5*time.Second))
	const topic = "refill"
	createTopic(t, nodes, topic, 1, 3, nil)
	all := newClient(t, nodes, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	produce(t, all, topic, 50, "before")
	waitReplicasMatch(t, nodes, topic, 0)

	ld := leaderOf(t, nodes, topic, 0)
	var wiped *node
	for _, n := range nodes {
		if n != ld {
			wiped = n
			break
		}
	}
	wiped.stop()
	brokertest.Poll(t, 10*time.Second, "the stopped broker out of the ISR", func() bool {
		p, _ := ld.cl.Image().Partition(topic, 0)
		return !slices.Contains(p.ISR, wiped.id)
	})
	adm := kadm.NewClient(newClient(t, nodes))
	ctx := testCtx(t, 20*time.Second)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 20})
	if res, err := adm.DeleteRecords(ctx, offs); err != nil || res.Error() != nil {
		t.Fatalf("DeleteRecords: %v %v", err, res.Error())
	}
	produce(t, all, topic, 30, "while-away")

	wiped.dir = t.TempDir()
	wiped.start(t)
	brokertest.Poll(t, 15*time.Second, "the wiped broker back in the ISR", func() bool {
		p, _ := ld.cl.Image().Partition(topic, 0)
		return len(p.ISR) == 3
	})
	end := waitReplicasMatch(t, nodes, topic, 0)
	wp, _ := wiped.parts.Partition(topic, 0)
	if wp.LogStartOffset() != 20 || end != 80 {
		t.Fatalf("wiped replica: log start %d, log end %d; want 20 and 80", wp.LogStartOffset(), end)
	}
}
