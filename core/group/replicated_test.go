package group_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-go/chronik/core/broker"
	"github.com/chronik-go/chronik/core/group"
	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// startBrokers starts n core/broker brokers (ids 1..n) over one memory
// store with short session and replication timings, each closed at
// cleanup, and waits until every one sees all n live.
func startBrokers(t *testing.T, n int, gcfg group.Config) []*broker.Broker {
	t.Helper()
	mcfg := memory.DefaultConfig()
	mcfg.SessionTimeout = 2 * time.Second
	st, err := memory.NewStore(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var bs []*broker.Broker
	for id := int32(1); id <= int32(n); id++ {
		cfg := broker.DefaultConfig()
		cfg.BrokerID = id
		cfg.DataDir = t.TempDir()
		cfg.Server.ListenAddrs = []string{"127.0.0.1:0"}
		cfg.HTTPAddr = ""
		cfg.Cluster.HeartbeatInterval = 200 * time.Millisecond
		cfg.Group = gcfg
		cfg.Replica.MaxWait = 200 * time.Millisecond
		cfg.Replica.RetryBackoff = 50 * time.Millisecond
		cfg.Replica.LagTimeMax = 5 * time.Second
		b, err := broker.New(cfg, st.Node(fmt.Sprintf("b%d", id)), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = b.Start(ctx)
		if err == nil {
			err = b.WaitReady(ctx)
		}
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		bs = append(bs, b)
	}
	for _, b := range bs {
		brokertest.Poll(t, 10*time.Second, "every broker live", func() bool { return len(b.Cluster().Image().LiveBrokers()) == n })
	}
	return bs
}

// offsetsTopic waits until b's image has the offsets topic and returns
// it: another broker may have created it, and b learns it through its
// watch.
func offsetsTopic(t *testing.T, b *broker.Broker) metadata.Topic {
	t.Helper()
	var tp metadata.Topic
	brokertest.Poll(t, 10*time.Second, fmt.Sprintf("broker %d knows the offsets topic", b.Cluster().BrokerID()), func() bool {
		var ok bool
		tp, ok = b.Cluster().Image().Topic(group.OffsetsTopic)
		return ok
	})
	return tp
}

// TestOffsetsTopicReplicatedFailover: with the default configuration, three
// brokers create __consumer_offsets with replication factor 3 (min(3,
// live brokers)); a group's committed offsets survive the controlled
// shutdown of its coordinator: the new leader of the group's offsets
// partition loads it, FindCoordinator names it, and OffsetFetch returns
// the committed offsets.
func TestOffsetsTopicReplicatedFailover(t *testing.T) {
	gcfg := group.DefaultConfig()
	gcfg.OffsetsTopicPartitions = 3
	gcfg.InitialRebalanceDelay = 0
	gcfg.RetryInterval = 100 * time.Millisecond
	if gcfg.OffsetsTopicReplicationFactor != 0 {
		t.Fatalf("default offsets topic replication factor %d, want 0 (adaptive)", gcfg.OffsetsTopicReplicationFactor)
	}
	bs := startBrokers(t, 3, gcfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var addrs []string
	for _, b := range bs {
		addrs = append(addrs, b.Addr())
	}
	cl := brokertest.NewClient(t, addrs)
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, 2, 3, nil, "data"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, resp.Err)
	}
	// CreateTopic answers once the broker it went to knows the topic; the
	// group's coordinator may be another broker, which answers an offset
	// commit for a topic it has not learned yet UNKNOWN_TOPIC_OR_PARTITION
	// (as Kafka's coordinator does).
	for _, b := range bs {
		brokertest.Poll(t, 10*time.Second, fmt.Sprintf("broker %d knows topic data", b.Cluster().BrokerID()), func() bool {
			_, ok := b.Cluster().Image().Topic("data")
			return ok
		})
	}
	const grp = "replicated-group"
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "data", Partition: 0, At: 17, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "data", Partition: 1, At: 42, LeaderEpoch: -1, Metadata: "m"})
	res, err := adm.CommitOffsets(ctx, grp, offs)
	if err != nil || res.Error() != nil {
		t.Fatalf("CommitOffsets: %v %v", err, res.Error())
	}

	tp := offsetsTopic(t, bs[0])
	if len(tp.Partitions) != 3 {
		t.Fatalf("offsets topic: %+v", tp)
	}
	for _, p := range tp.Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("offsets topic partition %d has replicas %v, want 3", p.Partition, p.Replicas)
		}
	}

	// FindCoordinator goes to any broker, and kadm does not retry its
	// COORDINATOR_NOT_AVAILABLE, the answer of a broker whose image has
	// not learned the offsets topic yet (another broker created it).
	for _, b := range bs[1:] {
		offsetsTopic(t, b)
	}
	coord := func(cl *kgo.Client) (int32, error) {
		r := kadm.NewClient(cl).FindGroupCoordinators(ctx, grp)[grp]
		return r.NodeID, r.Err
	}
	old, err := coord(cl)
	if err != nil {
		t.Fatal(err)
	}
	owner := group.PartitionFor(grp, 3)
	brokertest.Poll(t, 15*time.Second, "the group's offsets partition fully in sync", func() bool {
		p, _ := bs[0].Cluster().Image().Partition(group.OffsetsTopic, owner)
		return len(p.ISR) == 3
	})
	var rest []string
	for i, b := range bs {
		if int32(i+1) == old {
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		rest = append(rest, b.Addr())
	}
	t.Logf("coordinator broker %d of %s (offsets partition %d) stopped", old, grp, owner)

	cl2 := brokertest.NewClient(t, rest)
	var now int32
	brokertest.Poll(t, 20*time.Second, "FindCoordinator naming a surviving broker", func() bool {
		id, err := coord(cl2)
		now = id
		return err == nil && id != old && id > 0
	})
	var fetched kadm.OffsetResponses
	brokertest.Poll(t, 20*time.Second, "OffsetFetch from the new coordinator", func() bool {
		fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
		defer fcancel()
		fetched, err = kadm.NewClient(cl2).FetchOffsets(fctx, grp)
		return err == nil && fetched.Error() == nil
	})
	for _, want := range []struct {
		p    int32
		at   int64
		meta string
	}{{0, 17, ""}, {1, 42, "m"}} {
		got, ok := fetched.Lookup("data", want.p)
		if !ok || got.At != want.at || got.Metadata != want.meta {
			t.Fatalf("after failover data-%d offset %+v (found %v), want %d %q", want.p, got, ok, want.at, want.meta)
		}
	}
	t.Logf("broker %d took over %s; committed offsets intact", now, grp)
}

// TestOffsetsTopicExplicitReplicationFactor: an explicit
// OffsetsTopicReplicationFactor is used as set (here 2 on three brokers),
// and a negative one is refused.
func TestOffsetsTopicExplicitReplicationFactor(t *testing.T) {
	gcfg := group.DefaultConfig()
	gcfg.OffsetsTopicReplicationFactor = -1
	if err := gcfg.Validate(); err == nil {
		t.Fatal("replication factor -1 accepted")
	}
	gcfg.OffsetsTopicReplicationFactor = 2
	gcfg.OffsetsTopicPartitions = 2
	bs := startBrokers(t, 3, gcfg)
	cl, err := kgo.NewClient(kgo.SeedBrokers(bs[1].Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	brokertest.Poll(t, 15*time.Second, "a coordinator for a group", func() bool {
		r := kadm.NewClient(cl).FindGroupCoordinators(ctx, "g")["g"]
		return r.Err == nil && r.NodeID > 0
	})
	tp := offsetsTopic(t, bs[0])
	if len(tp.Partitions) != 2 {
		t.Fatalf("offsets topic: %+v", tp)
	}
	for _, p := range tp.Partitions {
		if len(p.Replicas) != 2 {
			t.Fatalf("offsets topic partition %d has replicas %v, want 2 (as configured)", p.Partition, p.Replicas)
		}
	}
}
