package conformance

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// MemoryHarness returns the harness of the in-memory reference backend
// (package memory) used directly, in this process: node 0 holds the
// memory.Store, nodes 1..N-1 are handles on it (Store.Node). Node ids are
// "0", "1", ...; every node's Info names "0" as the leader.
//
// The memory cluster has no failover and no persistence: Stop or Kill of
// node 0 closes the store, after which every other node fails with
// metadata.ErrUnavailable; Restart(0) starts a fresh, empty store (above
// the old store's revisions, so old resume points fail with ErrCompacted)
// and re-attaches the running nodes to it, as plugin nodes reconnect to a
// restarted holder. Stop, Kill or Restart of node i > 0 close or replace
// only that handle.
func MemoryHarness() Harness { return memoryHarness{} }

type memoryHarness struct{}

func (memoryHarness) Name() string { return "memory" }

func (memoryHarness) Capabilities() []metadata.Capability {
	return slices.Clone(memory.Capabilities)
}

func (memoryHarness) Start(t T, opts Options) Cluster {
	t.Helper()
	n := max(opts.Nodes, 1)
	c := &memoryCluster{
		timeout: opts.SessionTimeout,
		peers:   make([]metadata.Peer, n),
		nodes:   make([]*memory.Store, n),
		down:    make([]bool, n),
	}
	for i := range n {
		c.peers[i] = metadata.Peer{ID: strconv.Itoa(i)}
	}
	if err := c.startStore(0); err != nil {
		t.Fatalf("memory harness: %v", err)
	}
	for i := 1; i < n; i++ {
		c.nodes[i] = c.store.Node(c.peers[i].ID)
	}
	t.Cleanup(c.closeAll)
	return c
}

// memoryCluster is a MemoryHarness cluster. mu guards every field; it is
// held while closing a handle or the store, which only waits for the
// handle's own goroutines.
type memoryCluster struct {
	timeout time.Duration
	peers   []metadata.Peer

	mu    sync.Mutex
	store *memory.Store   // held by node 0; nil before the first start
	nodes []*memory.Store // nodes[0] == store
	down  []bool
}

// startStore starts a new, empty store above the revisions of the previous
// one. c.mu must be held (or c not yet shared).
func (c *memoryCluster) startStore(initial metadata.Revision) error {
	s, err := memory.NewStore(memory.Config{
		NodeID:          c.peers[0].ID,
		Peers:           c.peers,
		SessionTimeout:  c.timeout,
		InitialRevision: initial,
	})
	if err != nil {
		return fmt.Errorf("start store: %w", err)
	}
	c.store = s
	c.nodes[0] = s
	c.down[0] = false
	return nil
}

func (c *memoryCluster) N() int { return len(c.nodes) }

func (c *memoryCluster) Node(i int) metadata.Backend {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

func (c *memoryCluster) check(i int) error {
	if i < 0 || i >= len(c.nodes) {
		return fmt.Errorf("memory harness: no node %d in a cluster of %d", i, len(c.nodes))
	}
	return nil
}

// Stop closes node i: the store for node 0, the handle otherwise.
func (c *memoryCluster) Stop(i int) error {
	if err := c.check(i); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down[i] = true
	return c.nodes[i].Close()
}

// Kill is Stop: an in-memory node has no shutdown work to skip, and its
// state is gone either way.
func (c *memoryCluster) Kill(i int) error { return c.Stop(i) }

// Restart replaces node i. For node 0 that is a fresh empty store, and the
// running nodes are moved onto it.
func (c *memoryCluster) Restart(i int) error {
	if err := c.check(i); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i > 0 {
		c.nodes[i].Close()
		c.nodes[i] = c.store.Node(c.peers[i].ID)
		c.down[i] = false
		return nil
	}
	old := c.store
	old.Close()
	if err := c.startStore(old.Revision() + 1); err != nil {
		return err
	}
	for j := 1; j < len(c.nodes); j++ {
		if !c.down[j] {
			c.nodes[j].Close()
			c.nodes[j] = c.store.Node(c.peers[j].ID)
		}
	}
	return nil
}

// closeAll closes every handle and the store (t's cleanup).
func (c *memoryCluster) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for j := len(c.nodes) - 1; j >= 0; j-- {
		c.nodes[j].Close()
	}
}
