package replica_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/core/replica"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestControlledShutdown: three brokers, an RF=3 topic under a steady
// acks=all producer and an RF=1 topic. The broker leading partition 0 of
// the RF=3 topic runs its controlled shutdown while still registered:
// every RF=3 partition it led moves to the first other in-sync replica in
// assignment order, with the leader epoch bumped and the ISR without it,
// it leaves the ISR of the RF=3 partitions it follows (same leader and
// leader epoch), and every broker's image shows that while it is still
// live; it refuses produce with NOT_LEADER_OR_FOLLOWER; its RF=1 partition
// does not move.
// Then it stops: the producer never fails and every acknowledged record is
// read back at its offset.
func TestControlledShutdown(t *testing.T) {
	st := newStore(t)
	nodes := startNodes(t, st, 3, testReplicaConfig(5*time.Second))
	const topic, single = "handoff", "single"
	createTopic(t, nodes, topic, 3, 3, nil)
	createTopic(t, nodes, single, 3, 1, nil)
	victim := leaderOf(t, nodes, topic, 0)
	var live []*node
	for _, n := range nodes {
		if n != victim {
			live = append(live, n)
		}
	}
	img := victim.cl.Image()
	before := map[int32]metadata.Partition{}   // RF=3, led by the victim
	followed := map[int32]metadata.Partition{} // RF=3, followed by the victim
	var singleLed []metadata.Partition
	for _, name := range []string{topic, single} {
		tp, _ := img.Topic(name)
		for _, p := range tp.Partitions {
			switch {
			case name == topic && p.Leader == victim.id:
				before[p.Partition] = p
			case name == topic:
				followed[p.Partition] = p
			case p.Leader == victim.id:
				singleLed = append(singleLed, p)
			}
		}
	}
	if len(singleLed) == 0 {
		t.Fatalf("broker %d leads no partition of the RF=1 topic: %+v", victim.id, img)
	}

	acks := brokertest.ProduceSteadily(t, seeds(nodes), topic)
	brokertest.Poll(t, 20*time.Second, "records acknowledged before the shutdown", func() bool { return acks.Count() >= 300 })
	for _, m := range []map[int32]metadata.Partition{before, followed} {
		for p := range m {
			brokertest.Poll(t, 10*time.Second, "every replica in the ISR", func() bool {
				m[p], _ = victim.cl.Image().Partition(topic, p)
				return len(m[p].ISR) == 3
			})
		}
	}

	res := victim.rep.ControlledShutdown(context.Background())
	t.Logf("controlled shutdown of broker %d: moved %d, left the ISR of %d, kept %d, not done %d, in %v",
		victim.id, len(res.Moved), len(res.LeftISR), res.Kept, res.Left, res.Elapsed)
	if res.Left != 0 || res.Kept != len(singleLed) || len(res.Moved) != len(before) || len(res.LeftISR) != len(followed) {
		t.Fatalf("controlled shutdown = %+v; want the %d RF=3 partitions it leads moved, the ISRs of the %d it follows left, the %d RF=1 ones kept, none left over",
			res, len(before), len(followed), len(singleLed))
	}
	for _, got := range res.LeftISR {
		b := followed[got.Partition]
		wantISR := slices.DeleteFunc(slices.Clone(b.ISR), func(id int32) bool { return id == victim.id })
		if got.Topic != topic || got.Leader != b.Leader || got.LeaderEpoch != b.LeaderEpoch || !slices.Equal(got.ISR, wantISR) {
			t.Fatalf("left the ISR: %+v (before %+v); want the same leader and epoch, ISR %v", got, b, wantISR)
		}
	}
	for _, got := range res.Moved {
		b := before[got.Partition]
		var want int32 = -1
		for _, id := range b.Replicas {
			if id != victim.id && slices.Contains(b.ISR, id) {
				want = id
				break
			}
		}
		wantISR := slices.DeleteFunc(slices.Clone(b.ISR), func(id int32) bool { return id == victim.id })
		if got.Topic != topic || got.Leader != want || got.LeaderEpoch != b.LeaderEpoch+1 || !slices.Equal(got.ISR, wantISR) {
			t.Fatalf("moved %+v (before %+v); want leader %d, leader epoch +1, ISR %v", got, b, want, wantISR)
		}
	}
	// The broker is still registered, and every image shows the moves.
	for _, n := range nodes {
		brokertest.Poll(t, 10*time.Second, fmt.Sprintf("broker %d's image showing the moves", n.id), func() bool {
			img := n.cl.Image()
			if !img.IsLive(victim.id) {
				t.Fatalf("broker %d is no longer live in broker %d's image before it stopped", victim.id, n.id)
			}
			for _, m := range append(slices.Clone(res.Moved), res.LeftISR...) {
				p, _ := img.Partition(topic, m.Partition)
				if p.PartitionEpoch < m.PartitionEpoch {
					return false
				}
			}
			return true
		})
	}
	// The former leader no longer acts as leader.
	vp, _ := victim.parts.Partition(topic, 0)
	if vp.State().Leader {
		t.Fatalf("broker %d still leads %s-0 after the handoff", victim.id, topic)
	}
	perr := rawProduce(testCtx(t, 10*time.Second), t, newClient(t, nodes), victim, topic, "to-the-former-leader")
	if !errors.Is(perr, kerr.NotLeaderForPartition) {
		t.Fatalf("produce to the former leader: %v, want NOT_LEADER_OR_FOLLOWER", perr)
	}
	for _, p := range singleLed {
		now, _ := live[0].cl.Image().Partition(single, p.Partition)
		if now.Leader != victim.id || now.PartitionEpoch != p.PartitionEpoch {
			t.Fatalf("RF=1 partition %s-%d changed: %+v, was %+v", single, p.Partition, now, p)
		}
	}

	n := acks.Count()
	victim.stop()
	brokertest.Poll(t, 30*time.Second, "the producer continuing on the new leaders", func() bool { return acks.Count() >= n+300 })
	if err := acks.Stop(); err != nil {
		t.Error(err)
	}
	acks.CheckReadBack(t, seeds(live), topic)
	for p := range int32(3) {
		waitReplicasMatch(t, live, topic, p)
	}
	t.Logf("%d records acknowledged, every one read back at its offset", acks.Count())
}

// stalledCluster is a replica.Cluster whose AlterPartition never commits:
// it waits until its context ends (a metadata backend without quorum).
type stalledCluster struct{ replica.Cluster }

func (stalledCluster) AlterPartition(ctx context.Context, _ metadata.PartitionChange) (metadata.Partition, error) {
	<-ctx.Done()
	return metadata.Partition{}, fmt.Errorf("stalled: %w", ctx.Err())
}

// TestControlledShutdownBounded: when the handoff cannot commit, the
// controlled shutdown gives up after Config.ControlledShutdownTimeout,
// reports the partitions it could not move, and changes nothing; with the
// timeout zero it does nothing at all.
func TestControlledShutdownBounded(t *testing.T) {
	st := newStore(t)
	nodes := startNodes(t, st, 2, testReplicaConfig(5*time.Second))
	const topic = "bounded"
	createTopic(t, nodes, topic, 1, 2, nil)
	victim := leaderOf(t, nodes, topic, 0)
	all := newClient(t, nodes, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	produce(t, all, topic, 20, "before")
	waitReplicasMatch(t, nodes, topic, 0)
	before, _ := victim.cl.Image().Partition(topic, 0)

	victim.stopReplication()
	cfg := victim.rcfg
	cfg.ControlledShutdownTimeout = 0
	off, err := replica.New(cfg, victim.cl, victim.parts, victim.log)
	if err != nil {
		t.Fatal(err)
	}
	if err := off.Start(); err != nil {
		t.Fatal(err)
	}
	if res := off.ControlledShutdown(context.Background()); len(res.Moved)+res.Kept+res.Left != 0 {
		t.Fatalf("controlled shutdown with a zero timeout = %+v, want nothing done", res)
	}
	_ = off.Close()

	const bound = 700 * time.Millisecond
	cfg.ControlledShutdownTimeout = bound
	stalled, err := replica.New(cfg, stalledCluster{victim.cl}, victim.parts, victim.log)
	if err != nil {
		t.Fatal(err)
	}
	victim.rep = stalled
	if err := stalled.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := stalled.ControlledShutdown(context.Background())
	took := time.Since(start)
	t.Logf("stalled controlled shutdown: %+v in %v", res, took)
	if took < bound || took > bound+time.Second {
		t.Fatalf("stalled controlled shutdown took %v, want about its %v bound", took, bound)
	}
	if len(res.Moved) != 0 || res.Left != 1 {
		t.Fatalf("stalled controlled shutdown = %+v, want nothing moved and 1 partition left", res)
	}
	now, _ := victim.cl.Image().Partition(topic, 0)
	if now.Leader != victim.id || now.PartitionEpoch != before.PartitionEpoch {
		t.Fatalf("partition changed by a stalled controlled shutdown: %+v, was %+v", now, before)
	}
	vp, _ := victim.parts.Partition(topic, 0)
	if !vp.State().Leader {
		t.Fatal("the broker stopped leading although the handoff did not commit")
	}
	produce(t, all, topic, 5, "still-led")
}

// TestControlledShutdownPicksCaughtUpReplica: the first other in-sync
// replica in assignment order has not fetched anything (its replication is
// stopped), the next one has every record: leadership goes to the second,
// which serves every record once the first replicates again.
func TestControlledShutdownPicksCaughtUpReplica(t *testing.T) {
	st := newStore(t)
	nodes := startNodes(t, st, 3, testReplicaConfig(30*time.Second))
	behind := nodes[1]
	behind.stopReplication()
	const topic = "caught-up"
	createAssigned(t, nodes, topic, []int32{1, 2, 3})
	leader := nodes[0]
	if p, _ := leader.cl.Image().Partition(topic, 0); p.Leader != 1 || !slices.Equal(p.ISR, []int32{1, 2, 3}) {
		t.Fatalf("partition %+v; want leader 1, ISR [1 2 3]", p)
	}
	// acks=1: broker 2 never fetches, so the high watermark cannot move.
	one := newClient(t, nodes, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic(topic))
	produce(t, one, topic, 10, "leader-ack")
	brokertest.Poll(t, 10*time.Second, "broker 3 replicating the records", func() bool {
		p, _ := nodes[2].parts.Partition(topic, 0)
		return p.LogEndOffset() == 10
	})
	brokertest.Poll(t, 10*time.Second, "broker 3's fetch at the leader's end", func() bool {
		p, _ := leader.parts.Partition(topic, 0)
		ls, ok := p.LeaderState()
		return ok && ls.FollowerEndOffsets[3] == 10
	})

	res := leader.rep.ControlledShutdown(context.Background())
	if len(res.Moved) != 1 || res.Left != 0 {
		t.Fatalf("controlled shutdown = %+v; want the partition moved", res)
	}
	if got := res.Moved[0]; got.Leader != 3 || !slices.Equal(got.ISR, []int32{2, 3}) {
		t.Fatalf("moved to %+v; want leader 3 (broker 2 never fetched), ISR [2 3]", got)
	}
	leader.stop()
	behind.startReplication(t)
	got := consumeAll(t, nodes, topic, map[int32]int{0: 10})
	if len(got[0]) != 10 {
		t.Fatalf("read %d records from the new leader, want the 10 produced", len(got[0]))
	}
}
