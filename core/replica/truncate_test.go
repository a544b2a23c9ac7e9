package replica_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestFormerLeaderTruncates: a leader takes acks=1 records its followers
// never fetch (their replication is stopped); leadership then moves to a
// follower. The former leader, now a follower, must cut its log where it
// diverges from the new leader's (the end of epoch 0 there), fetch the new
// leader's records, and end byte-identical to it, back in the ISR. Once
// with OffsetForLeaderEpoch before fetching, once with Fetch's
// DivergingEpoch alone.
func TestFormerLeaderTruncates(t *testing.T) {
	for _, onFetch := range []bool{false, true} {
		t.Run(fmt.Sprintf("truncate_on_fetch_only=%v", onFetch), func(t *testing.T) {
			cfg := testReplicaConfig(time.Minute)
			cfg.TruncateOnFetchOnly = onFetch
			st := newStore(t)
			nodes := startNodes(t, st, 3, cfg)
			const topic = "diverge"
			createTopic(t, nodes, topic, 1, 3, nil)

			all := newClient(t, nodes, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
			first := produce(t, all, topic, 20, "replicated")[0]
			waitReplicasMatch(t, nodes, topic, 0)

			old := leaderOf(t, nodes, topic, 0)
			var followers []*node
			for _, n := range nodes {
				if n != old {
					n.stopReplication()
					followers = append(followers, n)
				}
			}
			one := newClient(t, nodes, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic(topic))
			produce(t, one, topic, 5, "unreplicated")
			op, _ := old.parts.Partition(topic, 0)
			if op.LogEndOffset() != 25 || op.HighWatermark() != 20 {
				t.Fatalf("old leader: log end %d, high watermark %d; want 25 and 20", op.LogEndOffset(), op.HighWatermark())
			}

			// Leadership moves to the first follower; the old leader leaves
			// the ISR (as if it had been fenced).
			nl := followers[0]
			part, _ := nl.cl.Image().Partition(topic, 0)
			var isr []int32
			for _, id := range part.Replicas {
				if id != old.id {
					isr = append(isr, id)
				}
			}
			moved, err := nl.cl.AlterPartition(testCtx(t, 10*time.Second), metadata.PartitionChange{
				Topic: topic, Partition: 0, ExpectedPartitionEpoch: part.PartitionEpoch, Leader: nl.id, ISR: isr,
			})
			if err != nil {
				t.Fatal(err)
			}
			if moved.LeaderEpoch != part.LeaderEpoch+1 {
				t.Fatalf("leader epoch %d after the move, want %d", moved.LeaderEpoch, part.LeaderEpoch+1)
			}
			for _, n := range followers {
				n.startReplication(t)
			}

			second := produce(t, all, topic, 10, "new-leader")[0]
			end := waitReplicasMatch(t, nodes, topic, 0)
			if end != 30 {
				t.Fatalf("log end offset %d after truncation and 10 more records, want 30", end)
			}
			brokertest.Poll(t, 15*time.Second, "the old leader back in the ISR", func() bool {
				p, _ := nl.cl.Image().Partition(topic, 0)
				return len(p.ISR) == 3
			})
			got := consumeAll(t, nodes, topic, map[int32]int{0: 30})[0]
			if want := append(first, second...); !slices.Equal(got, want) {
				t.Fatalf("consumed %q,\nwant %q", got, want)
			}
			epochs := op.EndOffsetForEpochLocal
			if e, end0 := epochs(part.LeaderEpoch); e != part.LeaderEpoch || end0 != 20 {
				t.Fatalf("old leader's epoch %d ends at %d (epoch %d), want 20", part.LeaderEpoch, end0, e)
			}
		})
	}
}
