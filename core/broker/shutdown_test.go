package broker

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// startBrokerOver starts broker id over backend as launchBroker does and
// waits until it is ready.
func startBrokerOver(t *testing.T, id int32, backend metadata.Backend, adjust func(*Config)) *Broker {
	t.Helper()
	b := launchBroker(t, id, backend, adjust)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return b
}

// startCluster starts n brokers over st and waits until each sees them
// all live and the topics (name: partitions, replication factor) are
// created and open on their replicas.
func startCluster(t *testing.T, st *memory.Store, n int, adjust func(*Config), topics map[string][2]int) []*Broker {
	t.Helper()
	var bs []*Broker
	for id := range int32(n) {
		bs = append(bs, startBrokerOver(t, id+1, st.Node(fmt.Sprintf("b%d", id+1)), adjust))
	}
	for _, b := range bs {
		brokertest.Poll(t, 10*time.Second, "every broker live", func() bool { return len(b.Cluster().Image().LiveBrokers()) == n })
	}
	adm := kadm.NewClient(brokertest.NewClient(t, addrs(bs)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, shape := range topics {
		resp, err := adm.CreateTopic(ctx, int32(shape[0]), int16(shape[1]), nil, name)
		if err != nil || resp.Err != nil {
			t.Fatalf("CreateTopic %s: %v %v", name, err, resp.Err)
		}
		for _, b := range bs {
			brokertest.Poll(t, 10*time.Second, "replicas open", func() bool {
				tp, ok := b.Cluster().Image().Topic(name)
				if !ok {
					return false
				}
				for _, p := range tp.Partitions {
					if _, ok := b.parts.Partition(name, p.Partition); slices.Contains(p.Replicas, b.cfg.BrokerID) && !ok {
						return false
					}
				}
				return true
			})
		}
	}
	return bs
}

// addrs returns the Kafka listener addresses of bs.
func addrs(bs []*Broker) []string {
	var a []string
	for _, b := range bs {
		a = append(a, b.Addr())
	}
	return a
}

// TestCloseHandsOffLeadership: three brokers, an RF=3 topic under a steady
// idempotent acks=all producer, and an RF=1 topic. Closing the broker that
// leads RF=3 partition 0 first moves the leadership of every RF=3
// partition it leads to another in-sync replica and leaves the ISR of
// those it follows: the backend's history (watched from before the Close)
// has each move, with the ISR without it, and each ISR change, before the
// broker's unregistration; its RF=1 partition is not touched.
// The producer never fails and every acknowledged record is read back
// from the others at its offset.
func TestCloseHandsOffLeadership(t *testing.T) {
	st := newStore(t)
	const topic, single = "handoff", "single"
	bs := startCluster(t, st, 3, nil, map[string][2]int{topic: {3, 3}, single: {3, 1}})
	img := bs[0].Cluster().Image()
	p0, _ := img.Partition(topic, 0)
	var victim *Broker
	var live []*Broker
	for _, b := range bs {
		if b.cfg.BrokerID == p0.Leader {
			victim = b
		} else {
			live = append(live, b)
		}
	}
	vid := victim.cfg.BrokerID

	prod := brokertest.ProduceSteadily(t, addrs(bs), topic)
	brokertest.Poll(t, 20*time.Second, "records acknowledged before the Close", func() bool { return prod.Count() >= 300 })
	led := map[int32]metadata.Partition{}      // RF=3 partitions the victim leads
	followed := map[int32]metadata.Partition{} // and follows
	var singleLed []metadata.Partition
	brokertest.Poll(t, 10*time.Second, "every replica in the ISR", func() bool {
		img := victim.Cluster().Image()
		clear(led)
		clear(followed)
		singleLed = singleLed[:0]
		for _, name := range []string{topic, single} {
			tp, _ := img.Topic(name)
			for _, p := range tp.Partitions {
				switch {
				case name == single:
					if p.Leader == vid {
						singleLed = append(singleLed, p)
					}
				case len(p.ISR) != 3:
					return false
				case p.Leader == vid:
					led[p.Partition] = p
				default:
					followed[p.Partition] = p
				}
			}
		}
		return true
	})
	if len(singleLed) == 0 {
		t.Fatalf("broker %d leads no partition of the RF=1 topic", vid)
	}

	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	events, err := st.Node("watch").Watch(wctx, st.Revision())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := victim.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	took := time.Since(start)

	// The backend's history: the moves, then the unregistration.
	moved := map[int32]metadata.Partition{}
	leftISR := map[int32]metadata.Partition{}
	var unregistered metadata.Revision
	for unregistered == 0 {
		var batch metadata.WatchBatch
		select {
		case batch = <-events:
		case <-time.After(10 * time.Second):
			t.Fatalf("broker %d's unregistration not in the backend's history", vid)
		}
		if batch.Err != nil {
			t.Fatal(batch.Err)
		}
		for _, e := range batch.Events {
			switch {
			case e.Type == metadata.EventBrokerUnregistered && e.BrokerID == vid:
				unregistered = batch.Revision
			case e.Type == metadata.EventPartitionChanged && e.Partition.Topic == single:
				for _, p := range singleLed {
					if p.Partition == e.Partition.Partition {
						t.Fatalf("the RF=1 partition led by the closing broker changed: %+v", e.Partition)
					}
				}
			case e.Type == metadata.EventPartitionChanged && e.Partition.Topic == topic:
				idx := e.Partition.Partition
				if _, ok := led[idx]; ok && e.Partition.Leader != vid {
					if _, seen := moved[idx]; !seen {
						moved[idx] = e.Partition
					}
				}
				if _, ok := followed[idx]; ok && !slices.Contains(e.Partition.ISR, vid) {
					if _, seen := leftISR[idx]; !seen {
						leftISR[idx] = e.Partition
					}
				}
			}
		}
	}
	for idx, before := range led {
		got, ok := moved[idx]
		if !ok {
			t.Fatalf("%s-%d (led by %d, ISR %v) did not move before broker %d unregistered", topic, idx, vid, before.ISR, vid)
		}
		var want int32 = -1
		for _, id := range before.Replicas {
			if id != vid {
				want = id
				break
			}
		}
		wantISR := slices.DeleteFunc(slices.Clone(before.ISR), func(id int32) bool { return id == vid })
		if got.Leader != want || got.LeaderEpoch != before.LeaderEpoch+1 || !slices.Equal(got.ISR, wantISR) {
			t.Fatalf("%s-%d moved to %+v (before %+v); want leader %d, leader epoch +1, ISR %v", topic, idx, got, before, want, wantISR)
		}
	}
	for idx, before := range followed {
		got, ok := leftISR[idx]
		wantISR := slices.DeleteFunc(slices.Clone(before.ISR), func(id int32) bool { return id == vid })
		if !ok || got.Leader != before.Leader || got.LeaderEpoch != before.LeaderEpoch || !slices.Equal(got.ISR, wantISR) {
			t.Fatalf("%s-%d (followed by %d, %+v): before broker %d unregistered, %+v; want the ISR %v under the same leader", topic, idx, vid, before, vid, got, wantISR)
		}
	}
	t.Logf("Close of broker %d took %v; %d partitions moved and %d ISRs left before it unregistered (revision %d)", vid, took, len(moved), len(leftISR), unregistered)

	n0 := prod.Count()
	brokertest.Poll(t, 30*time.Second, "the producer continuing on the new leaders", func() bool { return prod.Count() >= n0+300 })
	if err := prod.Stop(); err != nil {
		t.Fatal(err)
	}
	acks := prod.Acks()
	var gap time.Duration // the longest time without an acknowledgement across the Close
	for i := 1; i < len(acks); i++ {
		if acks[i].At.After(start) && acks[i-1].At.Before(start.Add(took)) {
			gap = max(gap, acks[i].At.Sub(acks[i-1].At))
		}
	}
	t.Logf("longest time without an acknowledgement across the Close: %v", gap.Round(time.Millisecond))
	prod.CheckReadBack(t, addrs(live), topic)
	t.Logf("%d records acknowledged, each read back at its offset", len(acks))
}

// stallingBackend is a metadata backend whose AlterPartition, once stall
// is set, never commits: it waits for its context to end (a backend that
// lost its quorum).
type stallingBackend struct {
	metadata.Backend
	stall   atomic.Bool
	stalled atomic.Int32 // AlterPartition calls that stalled
}

func (s *stallingBackend) AlterPartition(ctx context.Context, ch metadata.PartitionChange) (metadata.Partition, error) {
	if !s.stall.Load() {
		return s.Backend.AlterPartition(ctx, ch)
	}
	s.stalled.Add(1)
	<-ctx.Done()
	return metadata.Partition{}, fmt.Errorf("stalled: %w", ctx.Err())
}

// TestCloseBoundedWhenHandoffStalls: a broker whose backend cannot commit
// the handoff still closes within its controlled shutdown timeout (plus
// the rest of the shutdown); the partition stays with it until it is gone,
// and then the other replica takes over.
func TestCloseBoundedWhenHandoffStalls(t *testing.T) {
	st := newStore(t)
	const bound = time.Second
	var bs []*Broker
	var backends []*stallingBackend
	for id := int32(1); id <= 2; id++ {
		sb := &stallingBackend{Backend: st.Node(fmt.Sprintf("b%d", id))}
		backends = append(backends, sb)
		bs = append(bs, startBrokerOver(t, id, sb, func(c *Config) { c.Replica.ControlledShutdownTimeout = bound }))
	}
	for _, b := range bs {
		brokertest.Poll(t, 10*time.Second, "both brokers live", func() bool { return len(b.Cluster().Image().LiveBrokers()) == 2 })
	}
	const topic = "stalled"
	adm := kadm.NewClient(brokertest.NewClient(t, addrs(bs)))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, 1, 2, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, resp.Err)
	}
	var before metadata.Partition
	brokertest.Poll(t, 10*time.Second, "both replicas in the ISR", func() bool {
		before, _ = bs[0].Cluster().Image().Partition(topic, 0)
		return len(before.ISR) == 2
	})
	vi := slices.IndexFunc(bs, func(b *Broker) bool { return b.cfg.BrokerID == before.Leader })
	victim, other := bs[vi], bs[1-vi]
	// CreateTopic answered once the broker it went to knew the topic; the
	// leader may be the other one, which hands over only what its own
	// image shows it leading.
	brokertest.Poll(t, 10*time.Second, "the leader leading with both replicas in its ISR", func() bool {
		p, _ := victim.Cluster().Image().Partition(topic, 0)
		_, open := victim.parts.Partition(topic, 0)
		return open && p.Leader == victim.cfg.BrokerID && len(p.ISR) == 2
	})

	backends[vi].stall.Store(true)
	start := time.Now()
	_ = victim.Close()
	took := time.Since(start)
	t.Logf("Close with a stalled handoff took %v (bound %v)", took, bound)
	if took < bound || took > bound+3*time.Second {
		t.Fatalf("Close took %v; want its %v bound, plus at most 3 s for the rest", took, bound)
	}
	if n := backends[vi].stalled.Load(); n == 0 {
		t.Fatal("Close never tried to hand the partition over")
	}
	brokertest.Poll(t, 20*time.Second, "the other replica leading once the broker is gone", func() bool {
		p, _ := other.Cluster().Image().Partition(topic, 0)
		return p.Leader == other.cfg.BrokerID
	})
}
