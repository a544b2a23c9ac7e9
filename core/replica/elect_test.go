package replica_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// finish stops sp, waits for the answer to every record, and checks that
// nothing failed and that the acknowledged records are exactly what
// partition 0 holds, in order.
func finish(t *testing.T, sp *brokertest.Producer, nodes []*node, topic string) {
	t.Helper()
	if err := sp.Stop(); err != nil {
		t.Fatal(err)
	}
	checkInOrder(t, sp, nodes, topic)
	waitReplicasMatch(t, nodes, topic, 0)
	t.Logf("%d records acknowledged, all read back once, in order; replicas identical", sp.Count())
}

// failoverAndReturn creates an RF=3 one-partition topic with a steady
// producer, stops the leader (its preferred replica), waits for the
// failover, restarts the broker and waits until it is back in the ISR.
// It returns the producer, the returned broker and the partition's leader
// epoch after the failover.
func failoverAndReturn(t *testing.T, nodes []*node, topic string) (*brokertest.Producer, *node, int32) {
	t.Helper()
	createTopic(t, nodes, topic, 1, 3, nil)
	pref := leaderOf(t, nodes, topic, 0)
	before, _ := pref.cl.Image().Partition(topic, 0)
	if before.Replicas[0] != pref.id {
		t.Fatalf("initial leader %d is not the preferred replica of %v", pref.id, before.Replicas)
	}
	sp := brokertest.ProduceSteadily(t, seeds(nodes), topic)
	brokertest.Poll(t, 20*time.Second, "records acknowledged before the stop", func() bool { return sp.Count() >= 200 })
	pref.stop()
	var other *node
	for _, n := range nodes {
		if n != pref {
			other = n
			break
		}
	}
	brokertest.Poll(t, 20*time.Second, "failover", func() bool {
		p, _ := other.cl.Image().Partition(topic, 0)
		return p.Leader >= 0 && p.Leader != pref.id
	})
	n := sp.Count()
	brokertest.Poll(t, 30*time.Second, "the producer continuing on the new leader", func() bool { return sp.Count() >= n+200 })
	pref.start(t)
	brokertest.Poll(t, 20*time.Second, "the restarted broker back in the ISR", func() bool {
		p, _ := other.cl.Image().Partition(topic, 0)
		return slices.Contains(p.ISR, pref.id)
	})
	after, _ := other.cl.Image().Partition(topic, 0)
	t.Logf("broker %d stopped and back in the ISR %v; leader %d at epoch %d", pref.id, after.ISR, after.Leader, after.LeaderEpoch)
	return sp, pref, after.LeaderEpoch
}

// TestElectPreferredLeader: after a failover moved leadership away from
// the preferred replica and it came back into the ISR, a PREFERRED
// ElectLeaders (kadm, through any broker) gives it the leadership again
// with the leader epoch bumped and the ISR unchanged; a second one is not
// needed. acks=all producing continues throughout and nothing acknowledged
// is lost.
func TestElectPreferredLeader(t *testing.T) {
	st := newStore(t)
	rcfg := testReplicaConfig(5 * time.Second)
	rcfg.AutoLeaderRebalanceEnable = false
	nodes := startNodes(t, st, 3, rcfg)
	const topic = "elect-preferred"
	sp, pref, epoch := failoverAndReturn(t, nodes, topic)
	if p, _ := pref.cl.Image().Partition(topic, 0); p.Leader == pref.id {
		t.Fatalf("leadership returned to broker %d without an election or rebalancing", pref.id)
	}

	var via *node
	for _, n := range nodes {
		if n != pref {
			via = n // not the preferred replica: any broker answers
			break
		}
	}
	adm := kadm.NewClient(newClient(t, []*node{via}))
	ctx := testCtx(t, 20*time.Second)
	beforeElect, _ := via.cl.Image().Partition(topic, 0)
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[topic][0]; r.Err != nil {
		t.Fatalf("ElectLeaders: %v %s", r.Err, r.ErrMessage)
	}
	// kadm sends ElectLeaders to the controller, which may not be via:
	// via's image learns the election through its watch.
	var p metadata.Partition
	brokertest.Poll(t, 10*time.Second, fmt.Sprintf("broker %d's image has broker %d leading", via.id, pref.id), func() bool {
		p, _ = via.cl.Image().Partition(topic, 0)
		return p.Leader == pref.id
	})
	if p.Leader != pref.id || p.LeaderEpoch != epoch+1 || !slices.Equal(p.ISR, beforeElect.ISR) {
		t.Fatalf("after the election: %+v; want leader %d, epoch %d, ISR %v", p, pref.id, epoch+1, beforeElect.ISR)
	}
	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil || res[topic][0].Err == nil {
		t.Fatalf("second election: %v %+v, want ELECTION_NOT_NEEDED", err, res[topic][0])
	}
	n := sp.Count()
	brokertest.Poll(t, 30*time.Second, "the producer continuing on the preferred leader", func() bool { return sp.Count() >= n+200 })
	finish(t, sp, nodes, topic)
}

// TestAutoLeaderRebalance: with automatic rebalancing on (short check
// interval), a preferred replica that was stopped, failed over, restarted
// and came back into the ISR gets its leadership back without any admin
// call; nothing acknowledged is lost.
func TestAutoLeaderRebalance(t *testing.T) {
	st := newStore(t)
	rcfg := testReplicaConfig(5 * time.Second)
	rcfg.AutoLeaderRebalanceEnable = true
	rcfg.LeaderImbalanceCheckInterval = 300 * time.Millisecond
	nodes := startNodes(t, st, 3, rcfg)
	const topic = "auto-rebalance"
	sp, pref, epoch := failoverAndReturn(t, nodes, topic)
	brokertest.Poll(t, 20*time.Second, "leadership back on the preferred replica", func() bool {
		p, _ := pref.cl.Image().Partition(topic, 0)
		return p.Leader == pref.id
	})
	if p, _ := pref.cl.Image().Partition(topic, 0); p.LeaderEpoch < epoch+1 || len(p.ISR) != 3 {
		t.Fatalf("after rebalancing: %+v (epoch was %d)", p, epoch)
	}
	n := sp.Count()
	brokertest.Poll(t, 30*time.Second, "the producer continuing on the preferred leader", func() bool { return sp.Count() >= n+200 })
	finish(t, sp, nodes, topic)
}

// TestAutoLeaderRebalanceThreshold: broker 1 is the preferred replica of
// four partitions; with leader.imbalance.per.broker.percentage 30, one of
// them led by another broker (25%) stays there for several checks, and a
// second one (50%) makes broker 1 take both back.
func TestAutoLeaderRebalanceThreshold(t *testing.T) {
	st := newStore(t)
	rcfg := testReplicaConfig(5 * time.Second)
	rcfg.AutoLeaderRebalanceEnable = true
	rcfg.LeaderImbalanceCheckInterval = 100 * time.Millisecond
	rcfg.LeaderImbalancePerBrokerPercentage = 30
	nodes := startNodes(t, st, 3, rcfg)
	const topic = "threshold"
	ctx := testCtx(t, 30*time.Second)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p := range int32(4) {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, []int32{1, 2, 3}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, newClient(t, nodes))
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics: %v %+v", err, resp)
	}
	n1 := nodes[0]
	moveTo2 := func(p int32) {
		t.Helper()
		brokertest.Poll(t, 10*time.Second, "a full ISR", func() bool {
			cur, _ := n1.cl.Image().Partition(topic, p)
			return len(cur.ISR) == 3 && cur.Leader == 1
		})
		cur, _ := n1.cl.Image().Partition(topic, p)
		if _, err := n1.cl.AlterPartition(ctx, metadata.PartitionChange{Topic: topic, Partition: p,
			ExpectedPartitionEpoch: cur.PartitionEpoch, Leader: 2, ISR: cur.ISR}); err != nil {
			t.Fatalf("moving %s-%d to broker 2: %v", topic, p, err)
		}
	}
	leader := func(p int32) int32 {
		cur, _ := n1.cl.Image().Partition(topic, p)
		return cur.Leader
	}
	moveTo2(0)
	// 1 of 4 (25%) is not above 30%: still led by broker 2 after ten
	// check intervals.
	deadline := time.Now().Add(10 * rcfg.LeaderImbalanceCheckInterval)
	for time.Now().Before(deadline) {
		if leader(0) != 2 {
			t.Fatalf("%s-0 moved back to %d with a 25%% imbalance (threshold 30%%)", topic, leader(0))
		}
		time.Sleep(20 * time.Millisecond)
	}
	moveTo2(1)
	brokertest.Poll(t, 10*time.Second, "both partitions back on broker 1 (50% > 30%)", func() bool {
		return leader(0) == 1 && leader(1) == 1
	})
}
