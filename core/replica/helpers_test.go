package replica_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/internal/brokertest"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/core/protocol"
	"github.com/chronik-go/chronik/core/replica"
	"github.com/chronik-go/chronik/core/server"
	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// node is one broker assembled as core/broker does (cluster membership,
// partitions, Kafka server) with a replica Manager whose configuration the
// test chooses.
type node struct {
	id      int32
	dir     string
	backend *memory.Store
	cl      *cluster.Cluster
	parts   *partition.Manager
	srv     *server.Server
	rep     *replica.Manager
	rcfg    replica.Config
	addr    string
	log     *slog.Logger
	closed  bool
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("REPLICA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// sessionTimeout is the metadata session timeout of the tests' stores.
const sessionTimeout = 2 * time.Second

func newStore(t testing.TB) *memory.Store {
	t.Helper()
	cfg := memory.DefaultConfig()
	cfg.SessionTimeout = sessionTimeout
	st, err := memory.NewStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// testReplicaConfig is a replica configuration for tests: short waits and
// backoffs; lag as given.
func testReplicaConfig(lag time.Duration) replica.Config {
	c := replica.DefaultConfig()
	c.MaxWait = 200 * time.Millisecond
	c.RetryBackoff = 50 * time.Millisecond
	c.RequestTimeout = 5 * time.Second
	c.CallTimeout = 5 * time.Second
	c.LagTimeMax = lag
	return c
}

// startNode starts broker id over a node of st.
func startNode(t testing.TB, st *memory.Store, id int32, rcfg replica.Config) *node {
	t.Helper()
	n := &node{id: id, dir: t.TempDir(), backend: st.Node(fmt.Sprintf("n%d", id)), rcfg: rcfg, log: testLogger(t).With("broker", id)}
	n.start(t)
	t.Cleanup(n.stop)
	return n
}

func (n *node) start(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = ln.Addr().String()
	_ = ln.Close()
	host, port, _ := net.SplitHostPort(n.addr)
	var p int32
	fmt.Sscan(port, &p)

	ccfg := cluster.DefaultConfig()
	ccfg.BrokerID = n.id
	ccfg.HeartbeatInterval = 200 * time.Millisecond
	ccfg.Listeners = []metadata.Listener{{Name: "PLAINTEXT", Host: host, Port: p}}
	cl, err := cluster.New(ccfg, n.backend, n.log.With("component", "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	pcfg := partition.DefaultConfig()
	pcfg.DataDir = n.dir
	pcfg.RetentionCheckInterval = 100 * time.Millisecond
	parts, err := partition.New(pcfg, cl, n.backend, n.log.With("component", "partition"))
	if err != nil {
		t.Fatal(err)
	}
	proto := &protocol.Broker{NodeID: n.id, Logger: n.log, Cluster: cl, Partitions: parts, Config: protocol.DefaultConfig()}
	scfg := server.DefaultConfig()
	scfg.ListenAddrs = []string{n.addr}
	srv, err := server.New(scfg, proto, n.log.With("component", "server"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := replica.New(n.rcfg, cl, parts, n.log.With("component", "replica"))
	if err != nil {
		t.Fatal(err)
	}
	n.cl, n.parts, n.srv, n.rep = cl, parts, srv, rep
	for _, err := range []error{cl.Start(), parts.Start(), rep.Start()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	n.closed = false
	if err := cl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// stop closes the node as core/broker did before controlled shutdown
// handed leadership over first (see TestControlledShutdown): it
// unregisters at once and the others elect new leaders.
func (n *node) stop() {
	if n.closed {
		return
	}
	n.closed = true
	_ = n.srv.Close()
	_ = n.rep.Close()
	_ = n.parts.Close()
	_ = n.cl.Close()
}

// crash stops the node without a controlled shutdown, as kill -9 would:
// its metadata connection is cut first (it cannot unregister; its session
// expires and the broker is fenced), then its components stop.
func (n *node) crash() {
	_ = n.backend.Close()
	n.stop()
}

// restartReplication replaces the node's replica Manager (stopping its
// fetchers while the rest of the node runs), with cfg.
func (n *node) stopReplication() { _ = n.rep.Close() }

func (n *node) startReplication(t testing.TB) {
	t.Helper()
	rep, err := replica.New(n.rcfg, n.cl, n.parts, n.log.With("component", "replica"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Start(); err != nil {
		t.Fatal(err)
	}
	n.rep = rep
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func seeds(nodes []*node) []string {
	var s []string
	for _, n := range nodes {
		if !n.closed {
			s = append(s, n.addr)
		}
	}
	return s
}

func newClient(t testing.TB, nodes []*node, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return brokertest.NewClient(t, seeds(nodes), opts...)
}

// readLog returns the raw bytes of a replica's log from offset from to
// end (every batch, verbatim as stored).
func readLog(t testing.TB, p *partition.Partition, from, end int64) []byte {
	t.Helper()
	var out []byte
	for off := from; off < end; {
		n := len(out)
		var err error
		out, err = p.ReadLog(out, off, 1<<20)
		if err != nil {
			t.Fatalf("reading %s-%d at %d: %v", p.Topic(), p.Index(), off, err)
		}
		if len(out) == n {
			t.Fatalf("reading %s-%d at %d: no data below %d", p.Topic(), p.Index(), off, end)
		}
		for pos := n; pos < len(out); {
			h, err := commitlog.ParseHeader(out[pos:])
			if err != nil {
				t.Fatal(err)
			}
			pos += h.Size()
			off = h.NextOffset()
		}
	}
	return out
}
