package etcdmeta_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik-go/chronik/conformance"
	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	"github.com/chronik-go/chronik/metadata-etcd/internal/etcdtest"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// The conformance harness: the checks of one run share an etcd cluster
// per cluster size (starting 3 members takes seconds), and every check
// gets a fresh prefix on it, that is a new, empty chronik cluster (which
// also proves that clusters under different prefixes of one etcd never see
// each other). Chronik node i runs beside etcd member i (member i is named
// "i", like the node, so that Info's leader names a node). Every node is
// given every member's endpoint. Kill, Stop and Restart of node i act on both its backend (a
// Backend value, or a plugin process) and its etcd member: killing a
// majority of nodes loses etcd's quorum, killing the node named leader
// kills etcd's leader. Faults of etcd members alone, under live backends,
// are in faults_test.go.

type etcdHarness struct {
	name string
	pool *etcdPool
	// nodes starts the chronik nodes of a cluster on the etcd cluster,
	// under prefix.
	nodes func(t conformance.T, opts conformance.Options, ec *etcdtest.Cluster, prefix string) conformance.Cluster
}

// etcdPool holds the etcd clusters shared by the checks of one test.
type etcdPool struct {
	t *testing.T
	// binary, if set, is the etcd server binary whose processes the
	// members are (etcdtest.Options.Binary); else they are embedded.
	binary string

	mu       sync.Mutex
	clusters map[int]*etcdtest.Cluster
	seq      int
}

func newPool(t *testing.T) *etcdPool { return &etcdPool{t: t, clusters: map[int]*etcdtest.Cluster{}} }

// get returns the cluster of n members (started on first use, stopped when
// the pool's test ends) and a fresh prefix.
func (p *etcdPool) get(n int) (*etcdtest.Cluster, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	prefix := fmt.Sprintf("/chronik-conformance/%03d/", p.seq)
	if c := p.clusters[n]; c != nil {
		return c, prefix
	}
	names := make([]string, n)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	c := etcdtest.Start(p.t, etcdtest.Options{Members: n, Names: names, Binary: p.binary})
	p.clusters[n] = c
	return c, prefix
}

func (h etcdHarness) Name() string { return h.name }

func (h etcdHarness) Capabilities() []metadata.Capability { return slices.Clone(etcdmeta.Capabilities) }

func (h etcdHarness) Start(t conformance.T, opts conformance.Options) conformance.Cluster {
	t.Helper()
	ec, prefix := h.pool.get(max(opts.Nodes, 1))
	// First registered, so it runs last, after the nodes are gone: the
	// next check finds every member up.
	t.Cleanup(ec.Heal)
	return &memberCluster{inner: h.nodes(t, opts, ec, prefix), ec: ec}
}

// memberCluster pairs chronik node i with etcd member i.
type memberCluster struct {
	inner conformance.Cluster
	ec    *etcdtest.Cluster
}

func (c *memberCluster) N() int                      { return c.inner.N() }
func (c *memberCluster) Node(i int) metadata.Backend { return c.inner.Node(i) }

func (c *memberCluster) Stop(i int) error {
	err := c.inner.Stop(i)
	c.ec.Stop(i)
	return err
}

func (c *memberCluster) Kill(i int) error {
	err := c.inner.Kill(i)
	c.ec.Kill(i)
	return err
}

// Restart starts the member (without waiting for its quorum: other members
// may still be down) and then the node.
func (c *memberCluster) Restart(i int) error {
	if !c.ec.Running(i) {
		if err := c.ec.Launch(i); err != nil {
			return err
		}
	}
	return c.inner.Restart(i)
}

// directHarness runs the nodes as Backend values in this process.
func directHarness(t *testing.T) etcdHarness {
	return etcdHarness{name: "etcd", pool: newPool(t), nodes: startDirect}
}

type directCluster struct {
	cfgs []etcdmeta.Config

	mu    sync.Mutex
	nodes []*etcdmeta.Backend
	down  []bool
}

func startDirect(t conformance.T, opts conformance.Options, ec *etcdtest.Cluster, prefix string) conformance.Cluster {
	n := ec.N()
	c := &directCluster{nodes: make([]*etcdmeta.Backend, n), down: make([]bool, n)}
	for i := range n {
		cfg := etcdmeta.DefaultConfig()
		cfg.NodeID = strconv.Itoa(i)
		cfg.Endpoints = ec.Endpoints()
		cfg.Prefix = prefix
		cfg.SessionTimeout = opts.SessionTimeout
		cfg.Logger = testLogger().With("node", i)
		c.cfgs = append(c.cfgs, cfg)
	}
	t.Cleanup(c.closeAll)
	for i := range n {
		if err := c.Restart(i); err != nil {
			t.Fatalf("direct harness: %v", err)
		}
	}
	return c
}

func (c *directCluster) N() int { return len(c.cfgs) }

func (c *directCluster) Node(i int) metadata.Backend {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

func (c *directCluster) Stop(i int) error {
	c.mu.Lock()
	b := c.nodes[i]
	c.down[i] = true
	c.mu.Unlock()
	if b == nil {
		return nil
	}
	return b.Close()
}

// Kill closes node i too: a Backend does no shutdown work (broker sessions
// live in etcd), so closing is what a crash leaves behind.
func (c *directCluster) Kill(i int) error { return c.Stop(i) }

func (c *directCluster) Restart(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := etcdmeta.New(ctx, c.cfgs[i])
	if err != nil {
		return fmt.Errorf("node %d: %w", i, err)
	}
	c.mu.Lock()
	old := c.nodes[i]
	c.nodes[i], c.down[i] = b, false
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func (c *directCluster) closeAll() {
	c.mu.Lock()
	nodes := slices.Clone(c.nodes)
	c.mu.Unlock()
	for _, b := range nodes {
		if b != nil {
			b.Close()
		}
	}
}

// processHarness runs the nodes as plugin subprocesses of path (args
// before the plugin protocol), through conformance.ProcessHarness.
func processHarness(t *testing.T, name, path string, args ...string) etcdHarness {
	return etcdHarness{name: name, pool: newPool(t), nodes: func(t conformance.T, opts conformance.Options, ec *etcdtest.Cluster, prefix string) conformance.Cluster {
		ph := conformance.ProcessHarness(conformance.ProcessConfig{
			Name: name,
			Path: path,
			Args: args,
			Settings: map[string]string{
				etcdmeta.SettingEndpoints: strings.Join(ec.Endpoints(), ","),
				etcdmeta.SettingPrefix:    prefix,
			},
			Capabilities: etcdmeta.Capabilities,
		})
		return ph.Start(t, opts)
	}}
}

// goBuild builds package pkg into a temp dir as name.
func goBuild(t *testing.T, name, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	return bin
}

func TestConformanceDirect(t *testing.T) {
	conformance.Run(t, directHarness(t))
}

func TestConformanceGRPC(t *testing.T) {
	conformance.Run(t, conformance.GRPCHarness(directHarness(t)))
}

// TestConformanceChronikBinary runs the nodes as plugin subprocesses of
// the real chronik binary's built-in etcd plugin ("chronik metadata-plugin
// etcd", what --metadata=etcd starts), built from the workspace. (The
// module's own plugin main, internal/cmd/chronik-metadata-etcd, serves the
// same Factory; the benchmark uses it.)
func TestConformanceChronikBinary(t *testing.T) {
	bin := goBuild(t, "chronik", "github.com/chronik-go/chronik/cmd/chronik")
	conformance.Run(t, processHarness(t, "etcd/chronik", bin, "metadata-plugin", "etcd"))
}
