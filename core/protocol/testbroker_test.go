package protocol

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/core/wire"
	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// In-package harness for the metadata and admin handlers: a real
// cluster.Cluster over the in-memory backend, a Broker around it, and
// roundTrip, which sends a request through the wire codec both ways at its
// version (client encoding, server header parse and body decode, handler,
// response frame, client decode at the request's version), so every answer
// checked is one that encodes at that version.

// harnessWait bounds every wait of these tests.
const harnessWait = 10 * time.Second

// Session timings of the harness clusters: short, so that fencing takes
// well under a second.
const (
	harnessSession   = 600 * time.Millisecond
	harnessHeartbeat = 50 * time.Millisecond
)

func harnessLogger(t *testing.T) *slog.Logger {
	t.Helper()
	if testing.Verbose() && os.Getenv("CHRONIK_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func harnessCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harnessWait)
	t.Cleanup(cancel)
	return ctx
}

// harnessLeakCheck fails the test if goroutines it started outlive its
// cleanups (brokertest.LeakCheck: one check per test).
func harnessLeakCheck(t *testing.T) {
	t.Helper()
	brokertest.LeakCheck(t)
}

// harnessStore returns a memory store with the harness session timeout,
// closed at cleanup, and checks the test for goroutine leaks.
func harnessStore(t *testing.T) *memory.Store {
	t.Helper()
	harnessLeakCheck(t)
	s, err := memory.NewStore(memory.Config{NodeID: "store", SessionTimeout: harnessSession})
	if err != nil {
		t.Fatalf("memory.NewStore: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// harnessCluster starts a Cluster for broker id (advertising
// 127.0.0.1:9000+id) over backend, closed at cleanup. ready waits until the
// broker sees its own registration.
func harnessCluster(t *testing.T, backend metadata.Backend, id int32, rack string, ready bool) *cluster.Cluster {
	t.Helper()
	cfg := cluster.DefaultConfig()
	cfg.BrokerID = id
	cfg.Rack = rack
	cfg.Listeners = []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id}}
	cfg.HeartbeatInterval = harnessHeartbeat
	cfg.RetryBackoff = 10 * time.Millisecond
	cfg.MaxRetryBackoff = 50 * time.Millisecond
	cfg.CallTimeout = time.Second
	cfg.ShutdownTimeout = time.Second
	c, err := cluster.New(cfg, backend, harnessLogger(t))
	if err != nil {
		t.Fatalf("cluster.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Start(); err != nil {
		t.Fatalf("cluster Start: %v", err)
	}
	if ready {
		if err := c.WaitReady(harnessCtx(t)); err != nil {
			t.Fatalf("broker %d not ready: %v", id, err)
		}
	}
	return c
}

// harnessBroker is a Broker for node id over c (nil: no cluster view) with
// the default Config.
func harnessBroker(t *testing.T, id int32, c *cluster.Cluster) *Broker {
	t.Helper()
	return &Broker{NodeID: id, Logger: harnessLogger(t), Cluster: c, Config: DefaultConfig()}
}

// oneBroker is the common setup: a store, broker 1 ready on it, and its
// Broker.
func oneBroker(t *testing.T) (*memory.Store, *Broker) {
	t.Helper()
	st := harnessStore(t)
	c := harnessCluster(t, st, 1, "", true)
	return st, harnessBroker(t, 1, c)
}

// registerBroker registers broker id directly in the backend (no
// heartbeats: its session expires after harnessSession) and waits until
// b's image has it.
func registerBroker(t *testing.T, st *memory.Store, b *Broker, id int32, rack string) metadata.Broker {
	t.Helper()
	reg, err := st.RegisterBroker(harnessCtx(t), metadata.BrokerRegistration{
		ID: id, IncarnationID: "test-" + t.Name(), Rack: rack,
		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id}},
	})
	if err != nil {
		t.Fatalf("RegisterBroker %d: %v", id, err)
	}
	waitFor(t, "broker registration in the image", func() bool {
		got, ok := b.Cluster.Image().Broker(id)
		return ok && got.Epoch == reg.Epoch
	})
	return reg
}

// keepAlive heartbeats a directly registered broker until stop is called
// or the test ends; stop waits for the heartbeat goroutine.
func keepAlive(t *testing.T, st *memory.Store, reg metadata.Broker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(harnessHeartbeat)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_, _ = st.Heartbeat(ctx, reg.ID, reg.Epoch)
			}
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// alterPartition sets the leader and ISR of a partition through the
// backend (a compare-and-set on its current partition epoch, as the
// partition layer will) and waits until b's image has the change.
func alterPartition(t *testing.T, st *memory.Store, b *Broker, topic string, p, leader int32, isr []int32) metadata.Partition {
	t.Helper()
	cur, ok := b.Cluster.Image().Partition(topic, p)
	if !ok {
		t.Fatalf("no partition %s/%d", topic, p)
	}
	got, err := st.AlterPartition(harnessCtx(t), metadata.PartitionChange{
		Topic: topic, Partition: p, ExpectedPartitionEpoch: cur.PartitionEpoch, Leader: leader, ISR: isr,
	})
	if err != nil {
		t.Fatalf("AlterPartition %s/%d: %v", topic, p, err)
	}
	waitFor(t, "partition change in the image", func() bool {
		now, _ := b.Cluster.Image().Partition(topic, p)
		return now.PartitionEpoch >= got.PartitionEpoch
	})
	return got
}

// waitFor polls cond until it holds or harnessWait passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(harnessWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", harnessWait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// call sends req through the wire codec to b's handler for its key and
// returns the decoded response, or the handler's Go error.
func call(ctx context.Context, t *testing.T, b *Broker, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("harness")).AppendRequest(nil, req, 7)[4:]
	var h wire.Header
	body, rest, err := wire.ParseHeader(frame, &h)
	if err != nil {
		t.Fatalf("%s v%d: parse header: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	api, ok := b.APIs().Lookup(h.Key)
	if !ok || !api.Supports(h.Version) {
		t.Fatalf("%s v%d is not served", kmsg.NameForKey(req.Key()), h.Version)
	}
	if err := wire.DecodeBody(body, rest); err != nil {
		t.Fatalf("%s v%d: decode: %v", kmsg.NameForKey(req.Key()), h.Version, err)
	}
	r := &Request{Header: h, Body: body, RemoteAddr: &net.TCPAddr{}, Logger: harnessLogger(t)}
	resp, err := api.Handle(ctx, b, r)
	if err != nil {
		return nil, err
	}
	if resp == nil {
		t.Fatalf("%s v%d: no response", kmsg.NameForKey(req.Key()), h.Version)
	}
	if resp.GetVersion() != h.Version {
		t.Fatalf("%s v%d: response at version %d", kmsg.NameForKey(req.Key()), h.Version, resp.GetVersion())
	}
	out := wire.AppendResponse(nil, h.CorrelationID, resp)
	got := req.ResponseKind()
	corr, err := wire.ParseResponse(out[4:], got)
	if err != nil || corr != 7 {
		t.Fatalf("%s v%d: response does not decode: corr %d, %v", kmsg.NameForKey(req.Key()), h.Version, corr, err)
	}
	return got, nil
}

// roundTrip is call that fails the test on a handler error.
func roundTrip[T kmsg.Response](t *testing.T, b *Broker, req kmsg.Request) T {
	t.Helper()
	resp, err := call(harnessCtx(t), t, b, req)
	if err != nil {
		t.Fatalf("%s v%d: handler error: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp.(T)
}

// mustCreateTopic creates a topic through b's cluster, failing the test on an
// error.
func mustCreateTopic(t *testing.T, b *Broker, name string, partitions int32, rf int16, assignment map[int32][]int32, configs map[string]string) metadata.Topic {
	t.Helper()
	tp, err := b.Cluster.CreateTopic(harnessCtx(t), name, partitions, rf, assignment, configs)
	if err != nil {
		t.Fatalf("CreateTopic %q: %v", name, err)
	}
	return tp
}

func strp(s string) *string { return &s }
