package replica_test

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// watchHW samples every replica's high watermark of topic's partition 0
// until the test ends and fails it if one ever moves backwards.
func watchHW(t *testing.T, nodes []*node, topic string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	wg.Go(func() {
		last := map[int32]int64{}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, n := range nodes {
				if p, ok := n.parts.Partition(topic, 0); ok {
					hw := p.HighWatermark()
					if hw < last[n.id] {
						mu.Lock()
						bad = append(bad, time.Now().Format(time.StampMilli)+": broker "+string(rune('0'+n.id))+" high watermark moved back")
						mu.Unlock()
					}
					last[n.id] = hw
				}
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if len(bad) > 0 {
			t.Errorf("high watermark moved backwards: %v", bad)
		}
	})
}

// TestISRShrinkExpandMinInsync: with min.insync.replicas=3 on RF=3, a
// follower that stops fetching (its broker stays alive) leaves the ISR
// after replica.lag.time.max.ms; an acks=all batch appended before that
// answers NOT_ENOUGH_REPLICAS_AFTER_APPEND, and the next is refused with
// NOT_ENOUGH_REPLICAS before any append. When the follower fetches again
// it rejoins the ISR and acks=all works again. An ISR change from a stale
// partition epoch is refused. No high watermark ever moves backwards.
func TestISRShrinkExpandMinInsync(t *testing.T) {
	const lag = time.Second
	st := newStore(t)
	rcfg := testReplicaConfig(lag)
	rcfg.ISRCheckInterval = 100 * time.Millisecond
	nodes := startNodes(t, st, 3, rcfg)
	const topic = "isr"
	three := "3"
	createTopic(t, nodes, topic, 1, 3, map[string]*string{"min.insync.replicas": &three})
	watchHW(t, nodes, topic)

	all := newClient(t, nodes, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	produce(t, all, topic, 10, "full-isr")
	waitReplicasMatch(t, nodes, topic, 0)

	ld := leaderOf(t, nodes, topic, 0)
	var lagger *node
	for _, n := range nodes {
		if n != ld {
			lagger = n
			break
		}
	}
	before, _ := ld.cl.Image().Partition(topic, 0)
	lagger.stopReplication()

	// Raw Produce requests to the leader: its answer reaches the test
	// without client retries.
	raw := newClient(t, nodes)
	ctx := testCtx(t, 30*time.Second)
	start := time.Now()
	err := rawProduce(ctx, t, raw, ld, topic, "while-lagging")
	if !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("acks=all while a follower lags: %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", err)
	}
	// The follower was last caught up when the batch was appended (to
	// within one check: its fetch offsets are sampled).
	if waited := time.Since(start); waited < lag-rcfg.ISRCheckInterval {
		t.Fatalf("the ISR shrank %v after the append, before replica.lag.time.max.ms %v", waited, lag)
	}
	shrunk, _ := ld.cl.Image().Partition(topic, 0)
	if len(shrunk.ISR) != 2 || shrunk.LeaderEpoch != before.LeaderEpoch || shrunk.PartitionEpoch <= before.PartitionEpoch {
		t.Fatalf("after the lag: %+v (before %+v), want the ISR without broker %d, same leader epoch", shrunk, before, lagger.id)
	}
	lp, _ := ld.parts.Partition(topic, 0)
	endBefore := lp.LogEndOffset()
	err = rawProduce(ctx, t, raw, ld, topic, "refused")
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all with the ISR below min.insync.replicas: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	if lp.LogEndOffset() != endBefore {
		t.Fatalf("NOT_ENOUGH_REPLICAS appended: log end %d, was %d", lp.LogEndOffset(), endBefore)
	}

	// A change based on the partition epoch before the shrink is stale.
	_, err = ld.cl.AlterPartition(ctx, metadata.PartitionChange{Topic: topic, Partition: 0,
		ExpectedPartitionEpoch: before.PartitionEpoch, Leader: ld.id, ISR: before.ISR})
	if !errors.Is(err, metadata.ErrStaleEpoch) {
		t.Fatalf("AlterPartition from partition epoch %d after the shrink: %v, want ErrStaleEpoch", before.PartitionEpoch, err)
	}

	lagger.startReplication(t)
	brokertest.Poll(t, 15*time.Second, "the follower back in the ISR", func() bool {
		p, _ := ld.cl.Image().Partition(topic, 0)
		return len(p.ISR) == 3
	})
	produce(t, all, topic, 10, "isr-restored")
	waitReplicasMatch(t, nodes, topic, 0)
}

// rawProduce sends one acks=all Produce of a one-record batch to broker n
// (the version the client negotiates) and returns the partition's error (nil for none).
func rawProduce(ctx context.Context, t *testing.T, cl *kgo.Client, n *node, topic, value string) error {
	t.Helper()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	var recs, body []byte
	body = append(body, 0)
	body = binary.AppendVarint(body, 0)
	body = binary.AppendVarint(body, 0)
	body = binary.AppendVarint(body, -1)
	body = binary.AppendVarint(body, int64(len(value)))
	body = append(body, value...)
	body = binary.AppendVarint(body, 0)
	recs = binary.AppendVarint(recs, int64(len(body)))
	recs = append(recs, body...)
	b := make([]byte, 61, 61+len(recs))
	be := binary.BigEndian
	now := time.Now().UnixMilli()
	be.PutUint32(b[8:], uint32(49+len(recs)))
	be.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	be.PutUint64(b[27:], uint64(now))
	be.PutUint64(b[35:], uint64(now))
	be.PutUint64(b[43:], ^uint64(0))
	be.PutUint16(b[51:], 0xffff)
	be.PutUint32(b[53:], 0xffffffff)
	be.PutUint32(b[57:], 1)
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))

	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 20000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	tp, _ := n.cl.Image().Topic(topic)
	rt.TopicID = tp.ID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = b
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(n.id)))
	if err != nil {
		t.Fatalf("Produce to broker %d: %v", n.id, err)
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}
