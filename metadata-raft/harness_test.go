package raftmeta

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik-go/chronik/conformance"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// raftHarness runs real Raft nodes in this process: node i has id "i", a
// listener on 127.0.0.1 (a random port kept across restarts) and its state
// in <t.TempDir()>/node-i. Restart reopens the same directory on the same
// address; Kill drops the node's connections first and hands nothing over.
type raftHarness struct {
	// settings are added to every node's Settings.
	settings map[string]string
}

func (h raftHarness) Name() string { return "raft" }

func (h raftHarness) Capabilities() []metadata.Capability { return Capabilities }

// Start starts a fresh cluster and waits until every node serves a
// Snapshot.
func (h raftHarness) Start(t conformance.T, opts conformance.Options) conformance.Cluster {
	t.Helper()
	c, err := startCluster(t, max(opts.Nodes, 1), opts.SessionTimeout, h.settings, slog.LevelWarn)
	if err != nil {
		t.Fatalf("raft harness: %v", err)
	}
	return c
}

// testCluster is a cluster of in-process nodes. mu guards nodes.
type testCluster struct {
	t      conformance.T
	logger *slog.Logger
	confs  []metadata.Config

	mu    sync.Mutex
	nodes []*Node // nil while down
}

// testLogger sends records at or above level to t until the returned
// function is called.
func testLogger(t conformance.T, level slog.Level) (*slog.Logger, func()) {
	w := &tWriter{t: t}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), w.close
}

type tWriter struct {
	t      conformance.T
	mu     sync.Mutex
	closed bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

func startCluster(t conformance.T, n int, sessionTimeout time.Duration, settings map[string]string, level slog.Level) (*testCluster, error) {
	logger, closeLog := testLogger(t, level)
	// Registered first, so it runs last: no log reaches t after the test.
	t.Cleanup(closeLog)
	lns := make([]net.Listener, n)
	peers := make([]metadata.Peer, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return nil, err
		}
		lns[i] = ln
		peers[i] = metadata.Peer{ID: strconv.Itoa(i), Address: ln.Addr().String()}
	}
	dir := t.TempDir()
	c := &testCluster{t: t, logger: logger, confs: make([]metadata.Config, n), nodes: make([]*Node, n)}
	t.Cleanup(c.closeAll)
	for i := range n {
		c.confs[i] = metadata.Config{
			NodeID:         peers[i].ID,
			DataDir:        filepath.Join(dir, "node-"+peers[i].ID),
			Peers:          peers,
			SessionTimeout: sessionTimeout,
			Settings:       maps.Clone(settings),
		}
	}
	for i := range n {
		nd, err := open(context.Background(), c.confs[i], logger, lns[i])
		if err != nil {
			for _, l := range lns[i:] {
				l.Close()
			}
			return nil, fmt.Errorf("opening node %d: %w", i, err)
		}
		c.mu.Lock()
		c.nodes[i] = nd
		c.mu.Unlock()
	}
	for i := range n {
		if err := c.waitServing(i, 30*time.Second); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// waitServing polls node i until a Snapshot succeeds.
func (c *testCluster) waitServing(i int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		nd := c.Node(i)
		if nd == nil {
			return fmt.Errorf("node %d is down", i)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline))
		_, err := nd.Snapshot(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %d: no Snapshot within %v: %w", i, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *testCluster) N() int { return len(c.confs) }

// Node returns node i, nil while it is down.
func (c *testCluster) Node(i int) metadata.Backend {
	if nd := c.node(i); nd != nil {
		return nd
	}
	return nil
}

func (c *testCluster) node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

func (c *testCluster) take(i int) (*Node, error) {
	if i < 0 || i >= len(c.confs) {
		return nil, fmt.Errorf("raft harness: no node %d", i)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[i]
	c.nodes[i] = nil
	if nd == nil {
		return nil, fmt.Errorf("raft harness: node %d is not running", i)
	}
	return nd, nil
}

func (c *testCluster) Stop(i int) error {
	nd, err := c.take(i)
	if err != nil {
		return err
	}
	return nd.Close()
}

func (c *testCluster) Kill(i int) error {
	nd, err := c.take(i)
	if err != nil {
		return err
	}
	return nd.kill()
}

// Restart reopens node i on its directory and address.
func (c *testCluster) Restart(i int) error {
	if i < 0 || i >= len(c.confs) {
		return fmt.Errorf("raft harness: no node %d", i)
	}
	if c.node(i) != nil {
		return fmt.Errorf("raft harness: node %d is running", i)
	}
	conf := c.confs[i]
	var ln net.Listener
	// The old listener is closed; its port is free again at once on loopback
	// (SO_REUSEADDR), but retry briefly in case of a straggling close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		ln, err = net.Listen("tcp", conf.Peers[i].Address)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("raft harness: rebinding node %d: %w", i, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	nd, err := open(context.Background(), conf, c.logger, ln)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.nodes[i] = nd
	c.mu.Unlock()
	return nil
}

func (c *testCluster) closeAll() {
	var wg sync.WaitGroup
	for i := range c.confs {
		c.mu.Lock()
		nd := c.nodes[i]
		c.nodes[i] = nil
		c.mu.Unlock()
		if nd != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nd.kill()
			}()
		}
	}
	wg.Wait()
}

// leader returns the index of the node that is the Raft leader, waiting up
// to within for one.
func (c *testCluster) leader(within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	for {
		for i := range c.confs {
			if nd := c.node(i); nd != nil && nd.isReady() {
				return i, nil
			}
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("no leader within %v", within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var _ conformance.Harness = raftHarness{}

// startFresh opens a node with id and no state outside the cluster's
// nodes, with raft.bootstrap=false: it waits to be added with AddMember.
// It is killed when the test ends. It returns the node and its address.
func (c *testCluster) startFresh(t *testing.T, id string) (*Node, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	conf := metadata.Config{
		NodeID:         id,
		DataDir:        filepath.Join(t.TempDir(), id),
		Peers:          []metadata.Peer{{ID: id, Address: addr}},
		SessionTimeout: time.Second,
		Settings:       map[string]string{SettingBootstrap: "false"},
	}
	nd, err := open(context.Background(), conf, c.logger, ln)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nd.kill() })
	return nd, addr
}

// members returns nd's view of the Raft configuration by member id.
func members(t *testing.T, ctx context.Context, nd *Node) map[string]metadata.Member {
	t.Helper()
	in, err := nd.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]metadata.Member{}
	for _, m := range in.Members {
		out[m.ID] = m
	}
	return out
}

// newTestCluster starts a cluster for a test of this package.
func newTestCluster(t *testing.T, n int, settings map[string]string) *testCluster {
	t.Helper()
	c, err := startCluster(t, n, time.Second, settings, slog.LevelWarn)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
