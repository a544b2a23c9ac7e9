package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Defaults of HostConfig.
const (
	DefaultStartTimeout   = 30 * time.Second
	DefaultMaxRestarts    = 5
	DefaultRestartWindow  = time.Minute
	DefaultRestartBackoff = 100 * time.Millisecond
)

// maxRestartBackoff caps the doubling delay between repeated restarts.
const maxRestartBackoff = 5 * time.Second

// exitGrace bounds how long a call that saw a transport failure waits for
// go-plugin to notice that the process exited (the connection breaks a few
// milliseconds before the process is reaped). It is also bounded by the
// call's ctx.
const exitGrace = 2 * time.Second

// ErrHostClosed is returned by every call on a Host after Close or Kill,
// and is the Err of the last batch of Watch streams the host ended (when
// the consumer can take it without blocking). It wraps
// metadata.ErrUnavailable.
var ErrHostClosed = fmt.Errorf("plugins: plugin host closed: %w", metadata.ErrUnavailable)

// HostConfig configures Load.
type HostConfig struct {
	// Path is the plugin executable (see Discover).
	Path string
	// Args are the plugin's arguments, e.g. a hidden subcommand when the
	// host binary runs itself as the plugin.
	Args []string
	// Env is added to the host's environment for the plugin process
	// (entries here win over the host's).
	Env []string
	// Config is sent with Configure at the first start and at every
	// restart.
	Config metadata.Config
	// Logger receives the host's records about the plugin and every log
	// line the plugin writes on stderr, with the attribute plugin=<Name>.
	// Nil discards them.
	Logger *slog.Logger
	// Name names the plugin in logs; empty means the executable's base name
	// without ExecutablePrefix.
	Name string
	// StartTimeout bounds one start: process start, handshake and
	// Configure. Zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// MaxRestarts bounds automatic restarts within RestartWindow; beyond
	// it calls fail with metadata.ErrUnavailable until the window has room
	// again. Zero means DefaultMaxRestarts; negative disables restarts.
	MaxRestarts int
	// RestartWindow is the window of MaxRestarts. Zero means
	// DefaultRestartWindow.
	RestartWindow time.Duration
	// RestartBackoff is the delay before the second restart within
	// RestartWindow; it doubles for each further one (capped at 5s). The
	// first restart is immediate. Zero means DefaultRestartBackoff.
	RestartBackoff time.Duration
}

// Validate reports a configuration Load cannot use.
func (c HostConfig) Validate() error {
	switch {
	case c.Path == "":
		return fmt.Errorf("plugins: HostConfig.Path is empty: %w", metadata.ErrInvalid)
	case c.StartTimeout < 0, c.RestartWindow < 0, c.RestartBackoff < 0:
		return fmt.Errorf("plugins: HostConfig: negative duration: %w", metadata.ErrInvalid)
	}
	return nil
}

func (c HostConfig) withDefaults() HostConfig {
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.MaxRestarts == 0 {
		c.MaxRestarts = DefaultMaxRestarts
	}
	if c.RestartWindow == 0 {
		c.RestartWindow = DefaultRestartWindow
	}
	if c.RestartBackoff == 0 {
		c.RestartBackoff = DefaultRestartBackoff
	}
	if c.Name == "" {
		c.Name = pluginName(c.Path)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// pluginName derives a name for logs from an executable path.
func pluginName(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".exe")
	if n, ok := strings.CutPrefix(base, ExecutablePrefix); ok && n != "" {
		return n
	}
	return base
}

// Host is a metadata.Backend backed by a plugin process started with
// go-plugin (gRPC only, AutoMTLS, and on Linux a parent-death signal so the
// plugin never outlives a killed host). It is also a metadata.Compactor and
// a metadata.Membership; those calls answer metadata.ErrUnsupported when
// the plugin's backend does not implement them.
//
// When the process dies, the host restarts it (at once, or at the next call
// when the restart budget was exhausted), re-sends Configure, and Watch
// streams resume from the last revision they delivered, so a consumer sees
// no gap and no duplicate; if the resume point was compacted the consumer
// gets a last batch with Err matching metadata.ErrCompacted. A call that
// hits the dead process fails with an error matching metadata.ErrUnavailable
// (writes may or may not have committed; callers retry), except the
// read-only Snapshot and Info, which wait for the restart and retry once.
// A call waits for a restart no longer than its ctx. Restarts happen one at
// a time, with a growing delay between repeated ones, at most MaxRestarts
// per RestartWindow.
//
// All methods are safe for concurrent use. After Close or Kill every call
// fails with ErrHostClosed (which matches metadata.ErrUnavailable).
type Host struct {
	cfg    HostConfig // defaults applied
	logger *slog.Logger
	hcl    hclog.Logger

	// life ends when the host stops (Close, Kill): it aborts restarts and
	// ends the Watch streams.
	life     context.Context
	stopLife context.CancelFunc

	wg sync.WaitGroup // restart goroutines and Watch forwarders

	mu         sync.Mutex
	stopped    bool
	cur        *generation // the current process; nil after a failed restart
	gens       int         // generations started (for logs)
	restarting *restartOp  // the restart in progress, if any
	attempts   []time.Time // restart attempts within the window
	restarts   int         // successful restarts

	closeOnce sync.Once
}

var (
	_ metadata.Backend      = (*Host)(nil)
	_ metadata.Compactor    = (*Host)(nil)
	_ metadata.TopicUpdater = (*Host)(nil)
	_ metadata.Membership   = (*Host)(nil)
)

// restartOp is one restart; done is closed when it has finished, err
// (written before) tells how.
type restartOp struct {
	done chan struct{}
	err  error
}

// Load starts the plugin process at cfg.Path, configures it with
// cfg.Config, and returns the Host once the plugin accepted the
// configuration. ctx bounds the whole start (and so does
// cfg.StartTimeout); if it ends first the process is killed and Load
// returns an error matching ctx.Err(). The caller must Close the Host.
func Load(ctx context.Context, cfg HostConfig) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	logger := cfg.Logger.With("plugin", cfg.Name)
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	h := &Host{
		cfg:      cfg,
		logger:   logger,
		hcl:      newHostHCLogger(logger),
		life:     life,
		stopLife: stop,
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	g, err := h.startConfigured(sctx)
	if err != nil {
		stop()
		return nil, err
	}
	h.mu.Lock()
	h.cur = g
	h.mu.Unlock()
	return h, nil
}

// startConfigured starts a new generation and configures it. ctx bounds
// both.
func (h *Host) startConfigured(ctx context.Context) (*generation, error) {
	h.mu.Lock()
	h.gens++
	num := h.gens
	h.mu.Unlock()
	g, err := startProcess(ctx, processSpec{
		num:          num,
		path:         h.cfg.Path,
		args:         h.cfg.Args,
		env:          h.cfg.Env,
		startTimeout: h.cfg.StartTimeout,
		logger:       h.hcl,
		onExit:       h.exited,
	})
	if err != nil {
		return nil, err
	}
	if err := g.client.Configure(ctx, h.cfg.Config); err != nil {
		g.teardown()
		return nil, fmt.Errorf("plugins: configuring plugin %s: %w", h.cfg.Name, err)
	}
	h.logger.Debug("plugin started", "pid", g.pid, "generation", num)
	return g, nil
}

// exited is called (from the generation's own goroutine) when a plugin
// process exits. The current process exiting on its own is a crash: start
// a restart.
func (h *Host) exited(g *generation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped || h.cur != g {
		return
	}
	h.logger.Warn("plugin process exited unexpectedly", "pid", g.pid, "generation", g.num)
	if _, err := h.restartLocked(); err != nil {
		h.logger.Error("plugin not restarted", "error", err)
	}
}

// restartLocked returns the restart in progress, or starts one if the
// budget allows. h.mu must be held.
func (h *Host) restartLocked() (*restartOp, error) {
	if h.restarting != nil {
		return h.restarting, nil
	}
	if h.cfg.MaxRestarts < 0 {
		return nil, fmt.Errorf("plugins: plugin %s is down and restarts are disabled: %w", h.cfg.Name, metadata.ErrUnavailable)
	}
	now := time.Now()
	keep := h.attempts[:0]
	for _, t := range h.attempts {
		if now.Sub(t) < h.cfg.RestartWindow {
			keep = append(keep, t)
		}
	}
	h.attempts = keep
	if len(h.attempts) >= h.cfg.MaxRestarts {
		return nil, fmt.Errorf("plugins: plugin %s is down: %d restarts within %s, no more until %s: %w",
			h.cfg.Name, len(h.attempts), h.cfg.RestartWindow,
			h.attempts[0].Add(h.cfg.RestartWindow).Format(time.RFC3339), metadata.ErrUnavailable)
	}
	var delay time.Duration
	if n := len(h.attempts); n > 0 {
		delay = h.cfg.RestartBackoff << (n - 1)
		if delay > maxRestartBackoff || delay <= 0 {
			delay = maxRestartBackoff
		}
	}
	h.attempts = append(h.attempts, now)
	op := &restartOp{done: make(chan struct{})}
	h.restarting = op
	old := h.cur
	h.wg.Go(func() { h.restart(op, old, delay) })
	return op, nil
}

// restart replaces the dead generation old (which may be nil) with a new
// one, after delay. It runs in its own goroutine, one at a time.
func (h *Host) restart(op *restartOp, old *generation, delay time.Duration) {
	if old != nil {
		old.teardown()
	}
	var (
		g   *generation
		err error
	)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-h.life.Done():
		}
		t.Stop()
	}
	if h.life.Err() == nil {
		ctx, cancel := context.WithTimeout(h.life, h.cfg.StartTimeout)
		g, err = h.startConfigured(ctx)
		cancel()
	}
	var unwanted *generation
	h.mu.Lock()
	h.restarting = nil
	switch {
	case h.stopped:
		// Close or Kill came first: this process is not wanted.
		unwanted = g
		op.err = ErrHostClosed
	case err != nil:
		if h.cur == old {
			h.cur = nil
		}
		op.err = fmt.Errorf("plugins: restarting plugin %s: %w: %w", h.cfg.Name, metadata.ErrUnavailable, err)
		h.logger.Warn("plugin restart failed", "error", err)
	default:
		h.cur = g
		h.restarts++
		h.logger.Info("plugin restarted", "pid", g.pid, "generation", g.num, "restarts", h.restarts)
	}
	h.mu.Unlock()
	if unwanted != nil {
		// Not under h.mu: teardown waits for the generation's goroutine,
		// which may be waiting for h.mu in onExit.
		unwanted.teardown()
	}
	close(op.done)
}

// acquire returns the current live generation, waiting (no longer than
// ctx) for a restart when the process is down.
func (h *Host) acquire(ctx context.Context) (*generation, error) {
	for {
		h.mu.Lock()
		if h.stopped {
			h.mu.Unlock()
			return nil, ErrHostClosed
		}
		if g := h.cur; g != nil && !g.hasExited() {
			h.mu.Unlock()
			return g, nil
		}
		op, err := h.restartLocked()
		h.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-op.done:
			if op.err != nil {
				return nil, op.err
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("plugins: waiting for plugin %s to restart: %w: %w", h.cfg.Name, metadata.ErrUnavailable, ctx.Err())
		}
	}
}

// died reports whether err, from a call on g, is a transport failure
// because g's process died. It waits briefly (within ctx) for go-plugin to
// notice the exit.
func (h *Host) died(ctx context.Context, g *generation, err error) bool {
	if !isTransportFailure(err) {
		return false
	}
	if g.hasExited() {
		return true
	}
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-g.exited:
		return true
	case <-t.C:
	case <-ctx.Done():
	case <-h.life.Done():
	}
	return g.hasExited()
}

// isTransportFailure reports whether err is a Client's error for a plugin
// it cannot reach or a call cut off by the connection's end (as opposed to
// the backend itself answering ErrUnavailable, which carries the sentinel's
// reason in its status).
func isTransportFailure(err error) bool {
	if !errors.Is(err, metadata.ErrUnavailable) {
		return false
	}
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		return sentinelOf(gs.GRPCStatus()) == nil
	}
	return true // ErrClientClosed, a stream ended without a status
}

// call runs a write on the current generation. A transport failure comes
// back as it is (matching metadata.ErrUnavailable), after the host noticed
// the death, so that a retry waits for the restart.
func call[T any](ctx context.Context, h *Host, f func(*Client) (T, error)) (T, error) {
	g, err := h.acquire(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := f(g.client)
	if err != nil {
		h.died(ctx, g, err)
	}
	return v, err
}

// read runs a read-only call, retrying it once on the restarted process
// when the first attempt hit a dead one.
func read[T any](ctx context.Context, h *Host, f func(*Client) (T, error)) (T, error) {
	g, err := h.acquire(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := f(g.client)
	if err == nil || !h.died(ctx, g, err) {
		return v, err
	}
	g, err = h.acquire(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return f(g.client)
}

// RegisterBroker implements metadata.Backend (a write: not retried).
func (h *Host) RegisterBroker(ctx context.Context, reg metadata.BrokerRegistration) (metadata.Broker, error) {
	return call(ctx, h, func(c *Client) (metadata.Broker, error) { return c.RegisterBroker(ctx, reg) })
}

// Heartbeat implements metadata.Backend (not retried).
func (h *Host) Heartbeat(ctx context.Context, id int32, epoch int64) (metadata.HeartbeatResult, error) {
	return call(ctx, h, func(c *Client) (metadata.HeartbeatResult, error) { return c.Heartbeat(ctx, id, epoch) })
}

// UnregisterBroker implements metadata.Backend (a write: not retried).
func (h *Host) UnregisterBroker(ctx context.Context, id int32, epoch int64) error {
	_, err := call(ctx, h, func(c *Client) (struct{}, error) { return struct{}{}, c.UnregisterBroker(ctx, id, epoch) })
	return err
}

// CreateTopic implements metadata.Backend (a write: not retried).
func (h *Host) CreateTopic(ctx context.Context, spec metadata.TopicSpec) (metadata.Topic, error) {
	return call(ctx, h, func(c *Client) (metadata.Topic, error) { return c.CreateTopic(ctx, spec) })
}

// DeleteTopic implements metadata.Backend (a write: not retried).
func (h *Host) DeleteTopic(ctx context.Context, name string) error {
	_, err := call(ctx, h, func(c *Client) (struct{}, error) { return struct{}{}, c.DeleteTopic(ctx, name) })
	return err
}

// AlterPartition implements metadata.Backend (a write: not retried).
func (h *Host) AlterPartition(ctx context.Context, change metadata.PartitionChange) (metadata.Partition, error) {
	return call(ctx, h, func(c *Client) (metadata.Partition, error) { return c.AlterPartition(ctx, change) })
}

// AllocateProducerIDs implements metadata.Backend (a write: not retried).
func (h *Host) AllocateProducerIDs(ctx context.Context, n int) (int64, error) {
	return call(ctx, h, func(c *Client) (int64, error) { return c.AllocateProducerIDs(ctx, n) })
}

// Compact implements metadata.Compactor (metadata.ErrUnsupported if the
// backend is not one). Not retried.
func (h *Host) Compact(ctx context.Context, rev metadata.Revision) error {
	_, err := call(ctx, h, func(c *Client) (struct{}, error) { return struct{}{}, c.Compact(ctx, rev) })
	return err
}

// AddMember implements metadata.Membership (metadata.ErrUnsupported if the
// backend does not). Not retried.
func (h *Host) AddMember(ctx context.Context, m metadata.Member) error {
	_, err := call(ctx, h, func(c *Client) (struct{}, error) { return struct{}{}, c.AddMember(ctx, m) })
	return err
}

// RemoveMember implements metadata.Membership (metadata.ErrUnsupported if
// the backend does not). Not retried.
func (h *Host) RemoveMember(ctx context.Context, id string) error {
	_, err := call(ctx, h, func(c *Client) (struct{}, error) { return struct{}{}, c.RemoveMember(ctx, id) })
	return err
}

// Snapshot implements metadata.Backend; retried once after a restart.
func (h *Host) Snapshot(ctx context.Context) (metadata.State, error) {
	return read(ctx, h, func(c *Client) (metadata.State, error) { return c.Snapshot(ctx) })
}

// Info implements metadata.Backend; retried once after a restart.
func (h *Host) Info(ctx context.Context) (metadata.Info, error) {
	return read(ctx, h, func(c *Client) (metadata.Info, error) { return c.Info(ctx) })
}

// Watch implements metadata.Backend. The stream survives plugin restarts:
// it resumes from the last revision it delivered. It ends with a last Err
// batch when the backend fails it (e.g. ErrCompacted, also when the resume
// point after a restart was compacted), when the plugin cannot be
// restarted (ErrUnavailable), or when the host is closed (ErrHostClosed,
// delivered only if the consumer is receiving at that moment); it closes
// without an Err batch when ctx ends. One goroutine feeds the channel; the
// consumer must receive until it closes or end ctx.
func (h *Host) Watch(ctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, error) {
	wctx, cancel := context.WithCancel(ctx)
	unlink := context.AfterFunc(h.life, cancel)
	end := func() { unlink(); cancel() }

	g, err := h.acquire(wctx)
	if err != nil {
		end()
		return nil, err
	}
	in, err := g.client.Watch(wctx, from)
	if err != nil && h.died(wctx, g, err) {
		in, g, err = h.rewatch(wctx, from)
	}
	if err != nil {
		end()
		if ctx.Err() == nil && h.life.Err() != nil {
			return nil, ErrHostClosed
		}
		return nil, err
	}
	out := make(chan metadata.WatchBatch)
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		end()
		return nil, ErrHostClosed
	}
	h.wg.Go(func() {
		defer end()
		defer close(out)
		h.forward(ctx, wctx, g, in, out, from)
	})
	h.mu.Unlock()
	return out, nil
}

// rewatch opens a watch from `from` on the next live generation, going
// through as many restarts as it takes (bounded by the restart budget and
// wctx).
func (h *Host) rewatch(wctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, *generation, error) {
	for {
		g, err := h.acquire(wctx)
		if err != nil {
			return nil, nil, err
		}
		in, err := g.client.Watch(wctx, from)
		if err == nil {
			return in, g, nil
		}
		if !h.died(wctx, g, err) {
			return nil, nil, err
		}
	}
}

// forward copies batches from in (a stream on g) to out, resuming the
// stream on the next generation when g's process dies. ctx is the caller's;
// wctx is ctx also ended by the host's stop.
func (h *Host) forward(ctx, wctx context.Context, g *generation, in <-chan metadata.WatchBatch, out chan<- metadata.WatchBatch, last metadata.Revision) {
	for {
		b, ok := <-in
		if ok && b.Err == nil {
			select {
			case out <- b:
				last = b.Revision
				continue
			case <-wctx.Done():
				// in is fed by the Client's goroutine, which stops on wctx.
				h.finish(ctx, out)
				return
			}
		}
		if wctx.Err() != nil {
			h.finish(ctx, out)
			return
		}
		cause := b.Err
		if !ok {
			cause = fmt.Errorf("plugins: watch stream closed: %w", metadata.ErrUnavailable)
		}
		if !h.died(wctx, g, cause) {
			h.send(wctx, out, metadata.WatchBatch{Err: cause})
			return
		}
		h.logger.Debug("resuming watch after plugin restart", "from", last)
		var err error
		in, g, err = h.rewatch(wctx, last)
		if err != nil {
			if wctx.Err() != nil {
				h.finish(ctx, out)
				return
			}
			h.send(wctx, out, metadata.WatchBatch{Err: err})
			return
		}
	}
}

// finish ends a stream whose wctx ended: nothing more if the caller's ctx
// ended; ErrHostClosed, if the consumer is receiving right now, if the
// host stopped.
func (h *Host) finish(ctx context.Context, out chan<- metadata.WatchBatch) {
	if ctx.Err() != nil {
		return
	}
	select {
	case out <- metadata.WatchBatch{Err: ErrHostClosed}:
	default:
	}
}

// send delivers a last Err batch unless wctx ends first.
func (h *Host) send(wctx context.Context, out chan<- metadata.WatchBatch, b metadata.WatchBatch) {
	select {
	case out <- b:
	case <-wctx.Done():
	}
}

// PID returns the process id of the current plugin process (possibly
// exited and not yet replaced), or 0 if there is none.
func (h *Host) PID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur == nil {
		return 0
	}
	return h.cur.pid
}

// Restarts returns how many times the plugin was restarted successfully.
func (h *Host) Restarts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.restarts
}

// Close stops the host gracefully: Watch streams end, and the plugin
// process is asked to shut down (go-plugin's Kill: a graceful shutdown RPC,
// then SIGKILL after 2 seconds). It returns when the process has exited
// and every goroutine of the host has ended. Idempotent; returns nil.
func (h *Host) Close() error {
	h.shutdown(false)
	return nil
}

// Kill SIGKILLs the plugin process and stops the host without restarting
// it, as a crash of the plugin would look to the host (for test
// harnesses). Later calls fail with ErrHostClosed (ErrUnavailable); calls in
// flight fail with ErrUnavailable. It returns when the process is reaped.
// Idempotent, also after Close; returns nil.
func (h *Host) Kill() error {
	h.shutdown(true)
	return nil
}

func (h *Host) shutdown(kill bool) {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.stopped = true
		g := h.cur
		h.mu.Unlock()
		if kill && g != nil {
			g.kill()
		}
		h.stopLife()
		if g != nil {
			g.teardown()
		}
		h.wg.Wait()
		h.logger.Debug("plugin host stopped", "killed", kill)
	})
}

// processSpec is how to start a plugin process.
type processSpec struct {
	num          int // generation number
	path         string
	args, env    []string
	startTimeout time.Duration
	logger       hclog.Logger
	// onExit, if set, is called from the generation's goroutine when the
	// process exits on its own (not after teardown started).
	onExit func(*generation)
}

// generation is one plugin process and the go-plugin client connected to
// it.
type generation struct {
	num    int // 1 for the first process of a Host, +1 per restart
	pc     *plugin.Client
	client *Client
	pid    int
	// exited is closed once the process has exited and was reaped.
	exited <-chan struct{}
	// kill SIGKILLs the process (if it still runs) through
	// exec.CommandContext.
	kill   context.CancelFunc
	onExit func(*generation)

	release  chan struct{} // closed by teardown after the process is reaped
	finished chan struct{} // closed when run has returned
	once     sync.Once
}

func (g *generation) hasExited() bool {
	select {
	case <-g.exited:
		return true
	default:
		return false
	}
}

// hostPlugin is the host side of GRPCPlugin that also keeps the context
// go-plugin ends when the process exits.
type hostPlugin struct {
	GRPCPlugin
	done context.Context
}

// GRPCClient implements plugin.GRPCPlugin.
func (p *hostPlugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	p.done = ctx
	return p.GRPCPlugin.GRPCClient(ctx, b, cc)
}

// startProcess starts a plugin process and connects to it (no Configure).
// ctx bounds the start: if it ends first, the process is killed and the
// error matches ctx.Err().
func startProcess(ctx context.Context, spec processSpec) (*generation, error) {
	// The process lives until teardown or kill, not as long as ctx.
	procCtx, kill := context.WithCancel(context.WithoutCancel(ctx))
	cmd := exec.CommandContext(procCtx, spec.path, spec.args...)
	cmd.Env = append(os.Environ(), spec.env...)
	setProcAttr(cmd)
	hp := &hostPlugin{}
	g := &generation{
		pc: plugin.NewClient(&plugin.ClientConfig{
			HandshakeConfig:  Handshake,
			Plugins:          plugin.PluginSet{PluginName: hp},
			Cmd:              cmd,
			SkipHostEnv:      true, // cmd.Env has it, with spec.env winning
			AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
			AutoMTLS:         true,
			StartTimeout:     spec.startTimeout,
			Logger:           spec.logger,
			// After Serve, a plugin's os.Stdout and os.Stderr are streamed
			// over gRPC: route them into the log too.
			SyncStdout: newPluginOutput(spec.logger.With("stream", "stdout")),
			SyncStderr: newPluginOutput(spec.logger),
		}),
		num:      spec.num,
		kill:     kill,
		onExit:   spec.onExit,
		release:  make(chan struct{}),
		finished: make(chan struct{}),
	}
	started := make(chan error, 1)
	go g.run(hp, started)
	stop := context.AfterFunc(ctx, kill)
	err := <-started
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		g.teardown()
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return nil, fmt.Errorf("plugins: starting plugin %s: %w", spec.path, err)
	}
	return g, nil
}

// run starts the process on a goroutine locked to its OS thread for the
// life of the process: the parent-death signal (Linux) fires when the
// thread that started the child exits, so that thread must outlive the
// process. run reports the start on started, calls onExit if the process
// exits on its own, and returns after teardown.
func (g *generation) run(hp *hostPlugin, started chan<- error) {
	defer close(g.finished)
	lockStarterThread()
	defer unlockStarterThread()
	err := g.connect(hp)
	started <- err
	if err == nil {
		select {
		case <-g.exited:
			if g.onExit != nil {
				g.onExit(g)
			}
		case <-g.release:
		}
	}
	<-g.release
}

// connect starts the process, performs the handshake and dispenses the
// Client. It fills g's fields before run reports the start.
func (g *generation) connect(hp *hostPlugin) error {
	rpc, err := g.pc.Client()
	if err != nil {
		return err
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		return err
	}
	c, ok := raw.(*Client)
	if !ok || hp.done == nil {
		return fmt.Errorf("plugins: dispensed %T, want *Client", raw)
	}
	g.client = c
	g.exited = hp.done.Done()
	if rc := g.pc.ReattachConfig(); rc != nil {
		g.pid = rc.Pid
	}
	return nil
}

// teardown ends the generation: its streams, then the process (gracefully
// through go-plugin if it still runs, forced after 2s), and waits until
// the process is reaped and run has returned. Idempotent; must not be
// called with Host.mu held (run may be waiting for it in onExit).
func (g *generation) teardown() {
	g.once.Do(func() {
		if g.client != nil {
			_ = g.client.Close()
		}
		g.pc.Kill()
		g.kill()
		close(g.release)
		<-g.finished
	})
}

// Probe starts the plugin at path (with args), asks its Info without
// configuring it (name, version, capabilities), and stops it. The plugin's
// log lines go to logger (nil discards them). ctx bounds the whole probe.
func Probe(ctx context.Context, path string, args []string, logger *slog.Logger) (metadata.Info, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g, err := startProcess(ctx, processSpec{
		path:         path,
		args:         args,
		startTimeout: DefaultStartTimeout,
		logger:       newHostHCLogger(logger.With("plugin", pluginName(path))),
	})
	if err != nil {
		return metadata.Info{}, err
	}
	defer g.teardown()
	info, err := g.client.Info(ctx)
	if err != nil {
		return metadata.Info{}, fmt.Errorf("plugins: probing plugin %s: %w", path, err)
	}
	return info, nil
}

// AddPartitions implements metadata.TopicUpdater (metadata.ErrUnsupported if
// the backend does not). Not retried: a retry after a crash could meet the
// partitions it added (ErrStaleEpoch), which the caller must judge.
func (h *Host) AddPartitions(ctx context.Context, topic string, expectedCount int32, parts []metadata.PartitionSpec) (metadata.Topic, error) {
	return call(ctx, h, func(c *Client) (metadata.Topic, error) { return c.AddPartitions(ctx, topic, expectedCount, parts) })
}

// SetTopicConfigs implements metadata.TopicUpdater (metadata.ErrUnsupported
// if the backend does not). Not retried: a retry after a crash could meet
// the configs it set (ErrStaleEpoch), which the caller must judge.
func (h *Host) SetTopicConfigs(ctx context.Context, topic string, expected, configs map[string]string) (metadata.Topic, error) {
	return call(ctx, h, func(c *Client) (metadata.Topic, error) { return c.SetTopicConfigs(ctx, topic, expected, configs) })
}
