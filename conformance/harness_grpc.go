package conformance

import (
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// GRPCHarness runs inner's clusters behind the plugin gRPC adapters, in
// this process: every node of an inner cluster is served with
// plugins.RegisterBackend on a real gRPC server on 127.0.0.1:0, and the
// suite calls it through plugins.NewClient over a real loopback
// connection. So every check also proves the adapters (conversions, error
// translation, Watch streaming, contexts). Kill, Stop and Restart tear the
// server and client down (abruptly or gracefully) and delegate to inner.
// Capabilities are inner's; the name is inner's plus "/grpc".
func GRPCHarness(inner Harness) Harness { return grpcHarness{inner: inner} }

type grpcHarness struct{ inner Harness }

func (h grpcHarness) Name() string                        { return h.inner.Name() + "/grpc" }
func (h grpcHarness) Capabilities() []metadata.Capability { return h.inner.Capabilities() }

func (h grpcHarness) Start(t T, opts Options) Cluster {
	t.Helper()
	inner := h.inner.Start(t, opts)
	c := &grpcCluster{inner: inner, nodes: make([]*grpcNode, inner.N())}
	// Registered after inner's cleanups, so it runs before them: the
	// adapters go away before the nodes they serve.
	t.Cleanup(c.closeAll)
	for i := range c.nodes {
		n, err := expose(inner.Node(i))
		if err != nil {
			t.Fatalf("grpc harness: node %d: %v", i, err)
		}
		c.mu.Lock()
		c.nodes[i] = n
		c.mu.Unlock()
	}
	return c
}

// grpcNode is one inner node behind a gRPC server and a client.
type grpcNode struct {
	backend metadata.Backend // the inner node served
	srv     *grpc.Server
	cc      *grpc.ClientConn
	client  *plugins.Client
	served  chan struct{} // closed when srv.Serve returned
}

// expose serves b on a new loopback gRPC server and connects a client.
func expose(b metadata.Backend) (*grpcNode, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	srv := grpc.NewServer()
	plugins.RegisterBackend(srv, b)
	n := &grpcNode{backend: b, srv: srv, served: make(chan struct{})}
	go func() { // owned by n: shutdown stops srv and waits for this
		defer close(n.served)
		_ = srv.Serve(lis)
	}()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		n.shutdown(false)
		return nil, fmt.Errorf("dial %s: %w", lis.Addr(), err)
	}
	n.cc = cc
	n.client = plugins.NewClient(cc)
	return n, nil
}

// gracefulStopTimeout bounds GracefulStop before falling back to Stop.
const gracefulStopTimeout = 5 * time.Second

// shutdown closes the client and the connection and stops the server:
// gracefully (in-flight calls finish) or at once.
func (n *grpcNode) shutdown(graceful bool) {
	if n.client != nil {
		_ = n.client.Close()
	}
	if n.cc != nil {
		_ = n.cc.Close()
	}
	if graceful {
		done := make(chan struct{})
		go func() { // ends when GracefulStop returns, which Stop forces
			defer close(done)
			n.srv.GracefulStop()
		}()
		select {
		case <-done:
		case <-time.After(gracefulStopTimeout):
			n.srv.Stop()
			<-done
		}
	} else {
		n.srv.Stop()
	}
	<-n.served
}

// grpcCluster is a GRPCHarness cluster. mu guards nodes.
type grpcCluster struct {
	inner Cluster

	mu    sync.Mutex
	nodes []*grpcNode // nil while a node is down
}

func (c *grpcCluster) N() int { return c.inner.N() }

// Node returns the gRPC client of node i (nil while it is down). If the
// inner cluster replaced node i's handle behind our back (the memory
// harness re-attaches every node when node 0 restarts), the new handle is
// served first.
func (c *grpcCluster) Node(i int) metadata.Backend {
	c.mu.Lock()
	n := c.nodes[i]
	if n == nil {
		c.mu.Unlock()
		return nil
	}
	if cur := c.inner.Node(i); cur == n.backend {
		c.mu.Unlock()
		return n.client
	}
	fresh, err := expose(c.inner.Node(i))
	if err != nil {
		c.mu.Unlock()
		return n.client // the stale client fails its calls; nothing better to give
	}
	c.nodes[i] = fresh
	c.mu.Unlock()
	n.shutdown(false)
	return fresh.client
}

func (c *grpcCluster) take(i int) *grpcNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	c.nodes[i] = nil
	return n
}

// Stop drains node i's adapters gracefully, then stops the inner node.
func (c *grpcCluster) Stop(i int) error {
	if n := c.take(i); n != nil {
		n.shutdown(true)
	}
	return c.inner.Stop(i)
}

// Kill kills the inner node first (a crash under live connections), then
// drops its adapters without waiting for calls in flight.
func (c *grpcCluster) Kill(i int) error {
	err := c.inner.Kill(i)
	if n := c.take(i); n != nil {
		n.shutdown(false)
	}
	return err
}

// Restart restarts the inner node and serves its new handle.
func (c *grpcCluster) Restart(i int) error {
	if err := c.inner.Restart(i); err != nil {
		return err
	}
	n, err := expose(c.inner.Node(i))
	if err != nil {
		return fmt.Errorf("grpc harness: node %d: %w", i, err)
	}
	c.mu.Lock()
	old := c.nodes[i]
	c.nodes[i] = n
	c.mu.Unlock()
	if old != nil {
		old.shutdown(false)
	}
	return nil
}

func (c *grpcCluster) closeAll() {
	for i := range c.nodes {
		if n := c.take(i); n != nil {
			n.shutdown(false)
		}
	}
}
