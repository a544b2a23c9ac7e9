package conformance

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chronik-go/chronik/conformance/ports"
	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// DefaultProcessStartTimeout bounds the start of one plugin node, and the
// wait until a fresh cluster serves Snapshots on every node.
const DefaultProcessStartTimeout = 30 * time.Second

// ProcessConfig configures ProcessHarness.
type ProcessConfig struct {
	// Name names the harness; empty means the executable's base name plus
	// "/process".
	Name string
	// Path is the plugin executable.
	Path string
	// Args are passed to the plugin (e.g. a hidden subcommand when a binary
	// runs itself as the plugin).
	Args []string
	// Env is added to the plugin processes' environment.
	Env []string
	// Settings is metadata.Config.Settings of every node.
	Settings map[string]string
	// Capabilities, if non-nil, are what the harness declares. Nil means
	// ask the plugin: the first Capabilities call runs plugins.Probe (its
	// Info without Configure); a failed probe makes Start fail the check.
	Capabilities []metadata.Capability
	// StartTimeout bounds each node's start; zero means
	// DefaultProcessStartTimeout.
	StartTimeout time.Duration
	// Logger receives the host's and the plugins' logs. Nil sends them to
	// the check's T (Logf) at LogLevel and above.
	Logger   *slog.Logger
	LogLevel slog.Level
}

// ProcessHarness runs every node as a plugin subprocess started with
// plugins.Load: the real go-plugin path (handshake, gRPC, stderr logs,
// SIGKILL). For a cluster of N nodes it picks a free loopback address per
// node and configures node i with NodeID "i", DataDir <t.TempDir()>/node-i
// (kept across Restart), Peers = every node with its address,
// SessionTimeout from the Options and cfg.Settings. Kill is Host.Kill
// (SIGKILL), Stop is Host.Close (graceful), Restart loads the plugin again
// with the same Config. The host never restarts a plugin by itself here: a
// plugin that crashes stays down and the checks see it. Start returns once
// every node serves a Snapshot.
//
// The addresses are found free and released before the plugins bind them;
// another process could take one in between (rare on loopback).
func ProcessHarness(cfg ProcessConfig) Harness {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultProcessStartTimeout
	}
	if cfg.Name == "" {
		cfg.Name = filepath.Base(cfg.Path) + "/process"
	}
	return &processHarness{cfg: cfg}
}

type processHarness struct {
	cfg ProcessConfig

	probeOnce sync.Once
	caps      []metadata.Capability
	probeErr  error
}

func (h *processHarness) Name() string { return h.cfg.Name }

// Capabilities returns cfg.Capabilities or the probed ones (nil if the
// probe failed; Start then reports why).
func (h *processHarness) Capabilities() []metadata.Capability {
	if h.cfg.Capabilities != nil {
		return slices.Clone(h.cfg.Capabilities)
	}
	h.probeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StartTimeout)
		defer cancel()
		info, err := plugins.Probe(ctx, h.cfg.Path, h.cfg.Args, h.cfg.Logger)
		if err != nil {
			h.probeErr = fmt.Errorf("conformance: probing plugin %s: %w", h.cfg.Path, err)
			return
		}
		h.caps = info.Capabilities
	})
	return slices.Clone(h.caps)
}

func (h *processHarness) Start(t T, opts Options) Cluster {
	t.Helper()
	h.Capabilities()
	if h.probeErr != nil {
		t.Fatalf("process harness: %v", h.probeErr)
	}
	n := max(opts.Nodes, 1)
	logger := h.cfg.Logger
	if logger == nil {
		w := &tLogWriter{t: t}
		// Registered first, so it runs after the nodes are gone: no log
		// line reaches t after its check ended.
		t.Cleanup(w.close)
		logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: h.cfg.LogLevel}))
	}
	addrs, err := ports.Free(n)
	if err != nil {
		t.Fatalf("process harness: %v", err)
	}
	dir := t.TempDir()
	peers := make([]metadata.Peer, n)
	for i := range peers {
		peers[i] = metadata.Peer{ID: strconv.Itoa(i), Address: addrs[i]}
	}
	c := &processCluster{h: h, logger: logger, confs: make([]metadata.Config, n), hosts: make([]*plugins.Host, n)}
	for i := range n {
		c.confs[i] = metadata.Config{
			NodeID:         peers[i].ID,
			DataDir:        filepath.Join(dir, "node-"+peers[i].ID),
			Peers:          slices.Clone(peers),
			SessionTimeout: opts.SessionTimeout,
			Settings:       maps.Clone(h.cfg.Settings),
		}
	}
	for _, conf := range c.confs {
		if err := os.MkdirAll(conf.DataDir, 0o755); err != nil {
			t.Fatalf("process harness: %v", err)
		}
	}
	t.Cleanup(c.closeAll)
	// Start the nodes together: a backend may wait for its peers while
	// configuring (a Raft node joining its cluster).
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.load(i)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process harness: starting node %d: %v", i, err)
		}
	}
	for i := range n {
		if err := c.waitServing(i); err != nil {
			t.Fatalf("process harness: node %d: %v", i, err)
		}
	}
	return c
}

// processCluster is a ProcessHarness cluster. mu guards hosts.
type processCluster struct {
	h      *processHarness
	logger *slog.Logger
	confs  []metadata.Config

	mu    sync.Mutex
	hosts []*plugins.Host // nil while a node is down
}

func (c *processCluster) load(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.h.cfg.StartTimeout)
	defer cancel()
	host, err := plugins.Load(ctx, plugins.HostConfig{
		Path:         c.h.cfg.Path,
		Args:         c.h.cfg.Args,
		Env:          c.h.cfg.Env,
		Config:       c.confs[i],
		Logger:       c.logger.With("node", i),
		Name:         fmt.Sprintf("%s[%d]", strings.TrimSuffix(filepath.Base(c.h.cfg.Path), ".exe"), i),
		StartTimeout: c.h.cfg.StartTimeout,
		MaxRestarts:  -1,
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.hosts[i]; old != nil {
		host.Kill()
		return fmt.Errorf("node %d is already running (pid %d)", i, old.PID())
	}
	c.hosts[i] = host
	return nil
}

// waitServing polls node i until a Snapshot succeeds (the cluster formed).
func (c *processCluster) waitServing(i int) error {
	deadline := time.Now().Add(c.h.cfg.StartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), deliverWithin)
		_, err := c.Node(i).Snapshot(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no Snapshot within %v of the start: %w", c.h.cfg.StartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *processCluster) N() int { return len(c.confs) }

// Node returns node i's host, or nil while it is down.
func (c *processCluster) Node(i int) metadata.Backend {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.hosts[i]; h != nil {
		return h
	}
	return nil
}

func (c *processCluster) take(i int) (*plugins.Host, error) {
	if i < 0 || i >= len(c.confs) {
		return nil, fmt.Errorf("process harness: no node %d in a cluster of %d", i, len(c.confs))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hosts[i]
	c.hosts[i] = nil
	if h == nil {
		return nil, fmt.Errorf("process harness: node %d is not running", i)
	}
	return h, nil
}

// Stop closes node i's host: a graceful shutdown of the plugin.
func (c *processCluster) Stop(i int) error {
	h, err := c.take(i)
	if err != nil {
		return err
	}
	return h.Close()
}

// Kill SIGKILLs node i's plugin process.
func (c *processCluster) Kill(i int) error {
	h, err := c.take(i)
	if err != nil {
		return err
	}
	return h.Kill()
}

// Restart starts node i's plugin again with the same Config (identity,
// data directory, address).
func (c *processCluster) Restart(i int) error {
	if i < 0 || i >= len(c.confs) {
		return fmt.Errorf("process harness: no node %d in a cluster of %d", i, len(c.confs))
	}
	if err := c.load(i); err != nil {
		return fmt.Errorf("process harness: restarting node %d: %w", i, err)
	}
	return nil
}

// closeAll closes every running node gracefully, all at once (t's
// cleanup). Host.Close falls back to SIGKILL after go-plugin's grace
// period, so it is bounded.
func (c *processCluster) closeAll() {
	var wg sync.WaitGroup
	for i := range c.confs {
		c.mu.Lock()
		h := c.hosts[i]
		c.hosts[i] = nil
		c.mu.Unlock()
		if h != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.Close()
			}()
		}
	}
	wg.Wait()
}

// tLogWriter writes log lines to a T until closed.
type tLogWriter struct {
	t      T
	mu     sync.Mutex
	closed bool
}

func (w *tLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tLogWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}
