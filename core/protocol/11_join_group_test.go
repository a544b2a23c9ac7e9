package protocol_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/group"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/core/protocol"
	"github.com/chronik-go/chronik/core/server"
	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Group e2e harness: a broker assembled like core/broker does (cluster,
// partition manager, group coordinator, server) but with a group.Config of
// the test's choosing (short initial delay and session bounds, few
// partitions of __consumer_offsets), over the memory backend, on a
// loopback port, with real franz-go clients.

// groupTestConfig is the coordinator config of these tests.
func groupTestConfig() group.Config {
	cfg := group.DefaultConfig()
	cfg.OffsetsTopicPartitions = 3
	// These brokers run no replica Manager: an offsets topic replicated
	// to several of them would never acknowledge a commit.
	cfg.OffsetsTopicReplicationFactor = 1
	cfg.InitialRebalanceDelay = 0
	cfg.MinSessionTimeout = 100 * time.Millisecond
	cfg.RetryInterval = 20 * time.Millisecond
	return cfg
}

// groupBroker is one running test broker.
type groupBroker struct {
	id     int32
	addr   string
	dir    string
	cl     *cluster.Cluster
	parts  *partition.Manager
	groups *group.Coordinator
	srv    *server.Server
	once   sync.Once
}

// stop closes the broker like core/broker.Close (server, coordinator,
// partitions, cluster). Idempotent.
func (b *groupBroker) stop() {
	b.once.Do(func() {
		_ = b.srv.Close()
		_ = b.groups.Close()
		_ = b.parts.Close()
		_ = b.cl.Close()
	})
}

// freePort returns a loopback address with a port free right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startGroupBroker starts broker id over backend with its data in dir, at
// addr ("" for a free port), and waits until it is ready.
func startGroupBroker(t *testing.T, backend metadata.Backend, id int32, dir, addr string, gcfg group.Config) *groupBroker {
	t.Helper()
	if addr == "" {
		addr = freePort(t)
	}
	host, port := hostPort(t, addr)
	ccfg := cluster.DefaultConfig()
	ccfg.BrokerID = id
	ccfg.Listeners = []metadata.Listener{{Name: "PLAINTEXT", Host: host, Port: port}}
	ccfg.HeartbeatInterval = e2eHeartbeat
	ccfg.RetryBackoff = 10 * time.Millisecond
	ccfg.MaxRetryBackoff = 100 * time.Millisecond
	ccfg.CallTimeout = time.Second
	ccfg.ShutdownTimeout = time.Second
	cl, err := cluster.New(ccfg, backend, nil)
	if err != nil {
		t.Fatal(err)
	}
	pcfg := partition.DefaultConfig()
	pcfg.DataDir = dir
	parts, err := partition.New(pcfg, cl, backend, nil)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := group.New(gcfg, cl, parts, nil)
	if err != nil {
		t.Fatal(err)
	}
	proto := &protocol.Broker{NodeID: id, Cluster: cl, Partitions: parts, Groups: groups, Config: protocol.DefaultConfig()}
	scfg := server.DefaultConfig()
	scfg.ListenAddrs = []string{addr}
	srv, err := server.New(scfg, proto, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &groupBroker{id: id, addr: addr, dir: dir, cl: cl, parts: parts, groups: groups, srv: srv}
	if err := srv.Start(e2eCtx(t)); err != nil {
		t.Fatal(err)
	}
	for _, start := range []func() error{cl.Start, parts.Start, groups.Start} {
		if err := start(); err != nil {
			b.stop()
			t.Fatal(err)
		}
	}
	t.Cleanup(b.stop)
	if err := cl.WaitReady(e2eCtx(t)); err != nil {
		t.Fatalf("broker %d not ready: %v", id, err)
	}
	return b
}

// oneGroupBroker is a store and one broker over it.
func oneGroupBroker(t *testing.T) (*memory.Store, *groupBroker) {
	t.Helper()
	st := e2eStore(t)
	return st, startGroupBroker(t, st, 1, t.TempDir(), "", groupTestConfig())
}

// produceN produces n records to topic (keys spread them over its
// partitions), values "<prefix>-<i>", and waits for every ack.
func produceN(t *testing.T, addr, topic, prefix string, n int) {
	t.Helper()
	cl := e2eClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		cl.Produce(e2eCtx(t), &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i)}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("produce: %v", err)
	}
	cl.Close()
}

// createTopic creates topic with n partitions through kadm.
func createTopic(t *testing.T, addr, topic string, n int32) {
	t.Helper()
	adm := kadm.NewClient(e2eClient(t, addr))
	resp, err := adm.CreateTopic(e2eCtx(t), n, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// consumeUntil polls cl until it has want records (values) or the test's
// deadline passes; it fails the test on a fetch error.
func consumeUntil(t *testing.T, cl *kgo.Client, want int) []string {
	t.Helper()
	var got []string
	deadline := time.Now().Add(e2eWait)
	for len(got) < want {
		if time.Now().After(deadline) {
			t.Fatalf("consumed %d records, want %d", len(got), want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil || !isCtxErr(err) {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

func isCtxErr(err error) bool {
	return err == context.DeadlineExceeded || err == context.Canceled
}

func values(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestGroupConsumeCommitResume: a kgo group consumer (with the default
// cooperative-sticky balancer, and with the eager range balancer) reads a
// topic, commits, leaves; a new consumer of the group resumes after the
// committed offsets and reads only the newer records.
func TestGroupConsumeCommitResume(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
		{"range", kgo.RangeBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, b := oneGroupBroker(t)
			createTopic(t, b.addr, "orders", 6)
			produceN(t, b.addr, "orders", "a", 60)

			opts := []kgo.Opt{kgo.ConsumerGroup("g-" + tc.name), kgo.ConsumeTopics("orders"), kgo.Balancers(tc.balancer),
				kgo.DisableAutoCommit(), kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(100 * time.Millisecond)}
			c1 := e2eClient(t, b.addr, opts...)
			got := consumeUntil(t, c1, 60)
			if !slices.Equal(sorted(got), values("a", 0, 60)) {
				t.Fatalf("first consumer read %v", sorted(got))
			}
			if err := c1.CommitUncommittedOffsets(e2eCtx(t)); err != nil {
				t.Fatalf("commit: %v", err)
			}
			c1.Close()

			produceN(t, b.addr, "orders", "b", 30)
			c2 := e2eClient(t, b.addr, opts...)
			got = consumeUntil(t, c2, 30)
			if !slices.Equal(sorted(got), values("b", 0, 30)) {
				t.Fatalf("resumed consumer read %v, want only the 30 new records", sorted(got))
			}
			c2.Close()
		})
	}
}
