package replica_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/core/replica"
	"github.com/chronik-go/chronik/plugins/memory"
)

// startNodes starts brokers 1..n over one store and waits until each sees
// all of them.
func startNodes(t testing.TB, st *memory.Store, n int, rcfg replica.Config) []*node {
	t.Helper()
	var nodes []*node
	for i := range n {
		nodes = append(nodes, startNode(t, st, int32(i+1), rcfg))
	}
	for _, nd := range nodes {
		brokertest.Poll(t, 10*time.Second, "every broker live", func() bool { return len(nd.cl.Image().LiveBrokers()) == n })
	}
	return nodes
}

func createTopic(t testing.TB, nodes []*node, name string, partitions int32, rf int16, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, nodes))
	resp, err := adm.CreateTopic(testCtx(t, 10*time.Second), partitions, rf, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic %s: %v %v", name, err, resp.Err)
	}
	for _, n := range nodes {
		brokertest.Poll(t, 10*time.Second, "hosted partitions open", func() bool {
			tp, ok := n.cl.Image().Topic(name)
			if !ok {
				return false
			}
			for i, part := range tp.Partitions {
				if _, ok := n.parts.Partition(name, int32(i)); !ok && slices.Contains(part.Replicas, n.id) {
					return false
				}
			}
			return true
		})
	}
}

// produce sends count records to topic (acks=all, idempotent) and returns
// them by partition in offset order.
func produce(t *testing.T, cl *kgo.Client, topic string, count int, prefix string) map[int32][]string {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	var recs []*kgo.Record
	for i := range count {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))})
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	out := map[int32][]string{}
	for _, r := range res {
		out[r.Record.Partition] = append(out[r.Record.Partition], string(r.Record.Value))
	}
	return out
}

// consumeAll reads every partition of topic from the start until it has
// want records per partition.
func consumeAll(t *testing.T, nodes []*node, topic string, want map[int32]int) map[int32][]string {
	t.Helper()
	cl := newClient(t, nodes, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	got := map[int32][]string{}
	ctx := testCtx(t, 30*time.Second)
	done := func() bool {
		for p, n := range want {
			if len(got[p]) < n {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: got %v records per partition, want %v", topic, lens(got), want)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s-%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], string(r.Value)) })
	}
	return got
}

// checkInOrder fails the test if a record sp produced failed, or if a
// partition of topic read from nodes does not hold exactly the records sp
// had acknowledged on it, in order.
func checkInOrder(t *testing.T, sp *brokertest.Producer, nodes []*node, topic string) {
	t.Helper()
	if failed := sp.Failed(); len(failed) > 0 {
		t.Fatalf("%d records failed, first: %v", len(failed), failed[0])
	}
	acked := sp.Values()
	want := map[int32]int{}
	for p, v := range acked {
		want[p] = len(v)
	}
	got := consumeAll(t, nodes, topic, want)
	for p, v := range acked {
		if !slices.Equal(got[p], v) {
			t.Fatalf("partition %d: read %d records, want exactly the %d acknowledged, in order", p, len(got[p]), len(v))
		}
	}
}

func lens(m map[int32][]string) map[int32]int {
	out := map[int32]int{}
	for p, v := range m {
		out[p] = len(v)
	}
	return out
}

// leaderOf returns the node leading topic's partition p in n's image.
func leaderOf(t *testing.T, nodes []*node, topic string, p int32) *node {
	t.Helper()
	for _, n := range nodes {
		if n.closed {
			continue
		}
		part, ok := n.cl.Image().Partition(topic, p)
		if !ok {
			t.Fatalf("no partition %s-%d", topic, p)
		}
		for _, m := range nodes {
			if m.id == part.Leader {
				return m
			}
		}
	}
	t.Fatalf("no leader for %s-%d", topic, p)
	return nil
}

// waitReplicasMatch waits until every live replica of topic's partition p
// has the leader's log end offset and high watermark, then checks their
// logs are byte-identical.
func waitReplicasMatch(t *testing.T, nodes []*node, topic string, p int32) int64 {
	t.Helper()
	var end int64
	brokertest.Poll(t, 15*time.Second, fmt.Sprintf("replicas of %s-%d in sync", topic, p), func() bool {
		ld := leaderOf(t, nodes, topic, p)
		lp, ok := ld.parts.Partition(topic, p)
		if !ok || !lp.State().Leader {
			return false
		}
		end = lp.LogEndOffset()
		for _, n := range nodes {
			if n.closed {
				continue
			}
			rp, ok := n.parts.Partition(topic, p)
			if !ok || rp.LogEndOffset() != end || rp.HighWatermark() != end {
				return false
			}
		}
		return true
	})
	ld := leaderOf(t, nodes, topic, p)
	lp, _ := ld.parts.Partition(topic, p)
	want := readLog(t, lp, lp.LogStartOffset(), end)
	for _, n := range nodes {
		if n.closed || n == ld {
			continue
		}
		rp, _ := n.parts.Partition(topic, p)
		if got := readLog(t, rp, lp.LogStartOffset(), end); !bytes.Equal(got, want) {
			t.Fatalf("%s-%d: broker %d's log (%d bytes) differs from leader %d's (%d bytes) below offset %d", topic, p, n.id, len(got), ld.id, len(want), end)
		}
	}
	return end
}

// TestReplicationFactorThree: an RF=3 topic on three brokers takes acks=all
// produce (the high watermark advances only through follower fetches),
// consumers read every record, and every follower's log is byte-identical
// to its leader's.
func TestReplicationFactorThree(t *testing.T) {
	st := newStore(t)
	nodes := startNodes(t, st, 3, testReplicaConfig(30*time.Second))
	createTopic(t, nodes, "rf3", 3, 3, nil)

	cl := newClient(t, nodes, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rf3"))
	sent := produce(t, cl, "rf3", 300, "a")
	sent2 := produce(t, cl, "rf3", 300, "b")
	for p, v := range sent2 {
		sent[p] = append(sent[p], v...)
	}
	want := lens(sent)
	got := consumeAll(t, nodes, "rf3", want)
	for p, v := range sent {
		if !slices.Equal(got[p], v) {
			t.Fatalf("partition %d: consumed %d records, differing from the %d produced", p, len(got[p]), len(v))
		}
	}
	total := int64(0)
	for p := range int32(3) {
		end := waitReplicasMatch(t, nodes, "rf3", p)
		total += end
		// The followers' idempotent producer state followed the leader's.
		ld := leaderOf(t, nodes, "rf3", p)
		lp, _ := ld.parts.Partition("rf3", p)
		for _, n := range nodes {
			rp, _ := n.parts.Partition("rf3", p)
			if rp.NumProducers() != lp.NumProducers() {
				t.Fatalf("rf3-%d: broker %d keeps %d producers, leader %d keeps %d", p, n.id, rp.NumProducers(), ld.id, lp.NumProducers())
			}
		}
	}
	if total != 600 {
		t.Fatalf("log end offsets sum to %d, want 600", total)
	}
	// ISRs stayed full.
	for p := range int32(3) {
		part, _ := nodes[0].cl.Image().Partition("rf3", p)
		if len(part.ISR) != 3 {
			t.Fatalf("rf3-%d ISR %v, want all three", p, part.ISR)
		}
	}
}
