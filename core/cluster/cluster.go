package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// maxBurst caps how many watch batches are applied before an image is
// published, so that a long catch-up still publishes as it goes.
const maxBurst = 256

// Cluster is one broker's membership in a chronik cluster: it keeps the
// broker registered (RegisterBroker + Heartbeat) and keeps a metadata Image
// fed by the backend's watch, and it performs topic admin through the
// backend.
//
// Lifecycle: New, then Start (returns at once; nothing blocks on the
// backend), then Close. Start runs two goroutines owned by the Cluster:
// the image loop and the registration loop; Close stops and waits for both.
//
// All methods are safe for concurrent use.
type Cluster struct {
	cfg         Config
	backend     metadata.Backend
	log         *slog.Logger
	incarnation string

	// view is the published image and its change channel; written only by
	// the image loop, read by anyone.
	view atomic.Pointer[view]

	// epoch is the epoch of the live session, -1 when not registered;
	// written only by the registration loop (and Close after it stopped).
	// regMu guards regChanged, which is closed and replaced whenever epoch
	// changes (under regMu).
	epoch atomic.Int64
	// lastHeartbeat is when the last heartbeat succeeded (Unix ns; 0
	// before one), for the metrics.
	lastHeartbeat atomic.Int64
	regMu         sync.Mutex
	regChanged    chan struct{}

	// Lifecycle. base is the root context of the loops and of every admin
	// call; stop cancels it when Close begins. lifeMu guards started and
	// closed. wg counts the two loops.
	base      context.Context
	stop      context.CancelFunc
	lifeMu    sync.Mutex
	started   bool
	closed    bool
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// view pairs a published Image with a channel closed when a newer Image
// replaces it.
type view struct {
	img     *Image
	changed chan struct{}
}

// New returns a Cluster for this broker over backend. It does not touch the
// backend: call Start. logger nil discards logs. The Cluster does not close
// the backend; close the backend after the Cluster.
func New(cfg Config, backend metadata.Backend, logger *slog.Logger) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if backend == nil {
		return nil, fmt.Errorf("cluster: nil backend: %w", ErrInvalidConfig)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	cfg.Listeners = slices.Clone(cfg.Listeners)
	c := &Cluster{
		cfg:         cfg,
		backend:     backend,
		log:         logger.With("broker", cfg.BrokerID),
		incarnation: randomUUID().String(),
		regChanged:  make(chan struct{}),
	}
	// The Cluster's root context: Close cancels it. Nothing else roots it,
	// since New and Start take no context (the Cluster lives until Close).
	c.base, c.stop = context.WithCancel(context.Background())
	c.view.Store(&view{changed: make(chan struct{})})
	c.epoch.Store(-1)
	return c, nil
}

// Start starts the image loop and the registration loop and returns at
// once: registration and the first snapshot happen in the background and
// are retried until they succeed (see Ready, WaitReady). Start is
// idempotent; after Close it returns ErrClosed.
func (c *Cluster) Start() error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.started {
		return nil
	}
	c.started = true
	c.wg.Add(2)
	go c.runImage(c.base)
	go c.runRegistration(c.base)
	c.log.Info("cluster membership starting", "incarnation", c.incarnation)
	return nil
}

// Close stops both loops and waits for them, then ends the broker's session
// with UnregisterBroker (a controlled shutdown: the broker leaves every
// node's Metadata at once instead of after the session timeout), bounded by
// Config.ShutdownTimeout. The unregistration is best-effort: its error is
// returned (the session then simply expires, as it also does when Close
// interrupts a registration whose outcome is unknown). Close is idempotent;
// concurrent calls wait for the first. Waiters (WaitReady, WaitRevision,
// admin calls) return ErrClosed.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.shutdown(true) })
	return c.closeErr
}

// shutdown stops the loops and, if unregister, ends the session.
func (c *Cluster) shutdown(unregister bool) error {
	c.lifeMu.Lock()
	c.closed = true
	started := c.started
	c.lifeMu.Unlock()
	c.stop()
	if !started {
		return nil
	}
	c.wg.Wait()
	epoch := c.epoch.Load()
	c.setEpoch(-1)
	if !unregister || epoch <= 0 {
		return nil
	}
	// Close has no caller context; this call gets its own bounded one.
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ShutdownTimeout)
	defer cancel()
	err := c.backend.UnregisterBroker(ctx, c.cfg.BrokerID, epoch)
	switch {
	case err == nil:
		c.log.Info("broker unregistered", "epoch", epoch)
	case errors.Is(err, metadata.ErrStaleEpoch):
		// A newer registration of this id replaced our session: it is not
		// ours to end.
		c.log.Info("broker session already replaced; not unregistering", "epoch", epoch)
	default:
		return fmt.Errorf("cluster: unregistering broker %d epoch %d (its session will expire): %w", c.cfg.BrokerID, epoch, err)
	}
	return nil
}

// BrokerID is this broker's id.
func (c *Cluster) BrokerID() int32 { return c.cfg.BrokerID }

// Incarnation is the incarnation id this Cluster registers with: a random
// UUID chosen by New, new for every process start.
func (c *Cluster) Incarnation() string { return c.incarnation }

// Done returns a channel closed when Close begins, for goroutines that
// wait on Current's channel.
func (c *Cluster) Done() <-chan struct{} { return c.base.Done() }

// Image returns the latest published Image, or nil before the first
// snapshot was loaded (answer with a retriable error then, never with a
// partial or self-only view). Cheap (an atomic load); never blocks.
func (c *Cluster) Image() *Image { return c.view.Load().img }

// Current returns the latest published Image (nil before the first) and a
// channel that is closed as soon as a newer Image replaces it. The pair is
// consistent: no Image published after img is missed by waiting on
// changed. A subscriber (e.g. the partition layer reacting to leadership
// changes) loops:
//
//	var prev *Image
//	img, changed := c.Current()
//	for {
//		react(img, img.ChangedTopics(prev)) // and img.LiveBrokers() vs prev's
//		select {
//		case <-changed:
//		case <-c.Done(): return
//		}
//		prev = img
//		img, changed = c.Current()
//	}
//
// Images may be skipped (a subscriber sees the latest, not every one), and
// the loop never waits for subscribers.
func (c *Cluster) Current() (img *Image, changed <-chan struct{}) {
	v := c.view.Load()
	return v.img, v.changed
}

// WaitRevision waits until the published Image is at revision rev or
// later. It returns ctx's error (wrapped) when ctx ends first, ErrClosed
// when the Cluster closes.
func (c *Cluster) WaitRevision(ctx context.Context, rev metadata.Revision) error {
	_, err := c.waitImage(ctx, fmt.Sprintf("revision %d", rev), func(img *Image) bool { return img.rev >= rev })
	return err
}

// waitImage waits for a published Image that satisfies ok and returns it.
func (c *Cluster) waitImage(ctx context.Context, what string, ok func(*Image) bool) (*Image, error) {
	for {
		v := c.view.Load()
		if v.img != nil && ok(v.img) {
			return v.img, nil
		}
		select {
		case <-v.changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: waiting for %s (image at revision %d): %w", what, v.img.Revision(), ctx.Err())
		case <-c.base.Done():
			return nil, ErrClosed
		}
	}
}

// publish makes img the current Image if it is newer than the current one,
// and logs changes of the live broker set (id@epoch; rare, one line per
// change). Called only by the image loop.
func (c *Cluster) publish(img *Image) {
	cur := c.view.Load()
	if cur.img != nil && img.rev <= cur.img.rev {
		return
	}
	c.view.Store(&view{img: img, changed: make(chan struct{})})
	close(cur.changed)
	if cur.img == nil || !slices.EqualFunc(cur.img.live, img.live, func(a, b metadata.Broker) bool {
		return a.ID == b.ID && a.Epoch == b.Epoch
	}) {
		ids := make([]string, len(img.live))
		for i, b := range img.live {
			ids[i] = fmt.Sprintf("%d@%d", b.ID, b.Epoch)
		}
		c.log.Info("live brokers changed", "revision", int64(img.rev), "live", ids, "controller", img.controller)
	}
}

// trouble logs a failed backend call: at Warn for the first failure of an
// episode, at Debug for the repeats.
func (c *Cluster) trouble(ctx context.Context, ep *episode, msg string, err error, attrs ...any) {
	level := slog.LevelDebug
	if ep.fail() {
		level = slog.LevelWarn
	}
	c.log.Log(ctx, level, msg, append(attrs, "error", err)...)
}

// runImage is the image loop: Snapshot, then Watch from its revision,
// applying batches and publishing images. ErrCompacted or a batch that does
// not follow the image -> a new Snapshot; any other failure -> resume the
// watch from the last applied revision after a backoff. Owned by the
// Cluster (wg); ends when ctx ends.
func (c *Cluster) runImage(ctx context.Context) {
	defer c.wg.Done()
	bo := newBackoff(c.cfg.RetryBackoff, c.cfg.MaxRetryBackoff)
	var ep episode
	var img *Image // last applied; nil: take a snapshot
	for ctx.Err() == nil {
		if img == nil {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
			st, err := c.backend.Snapshot(cctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				c.trouble(ctx, &ep, "metadata snapshot failed; retrying", err)
				sleep(ctx, bo.next())
				continue
			}
			img = newImage(st)
			c.publish(img)
			if ep.ok() {
				c.log.Info("metadata feed recovered", "revision", int64(img.rev))
			}
			c.log.Debug("metadata snapshot loaded", "revision", int64(img.rev), "cluster_id", img.clusterID, "brokers", len(img.live), "topics", len(img.names))
		}
		next, progressed, err := c.follow(ctx, img)
		img = next
		if ctx.Err() != nil {
			return
		}
		if progressed {
			bo.reset()
			if ep.ok() {
				c.log.Info("metadata feed recovered", "revision", int64(img.rev))
			}
		}
		switch {
		case errors.Is(err, metadata.ErrCompacted):
			c.log.Info("metadata history compacted past the image; taking a new snapshot", "revision", int64(img.rev), "error", err)
			img = nil
		case errors.Is(err, errGap):
			c.log.Warn("metadata watch batch does not follow the image; taking a new snapshot", "revision", int64(img.rev), "error", err)
			img = nil
		default:
			c.trouble(ctx, &ep, "metadata watch failed; resuming from the last applied revision", err, "revision", int64(img.rev))
		}
		if !progressed {
			sleep(ctx, bo.next())
		}
	}
}

// follow watches from img's revision and publishes every batch until the
// stream fails or ctx ends. It returns the last image it applied (img if
// none), whether it applied any batch, and why it stopped. Batches already
// queued are applied together and published once (at most maxBurst); a
// batch that does not follow (errGap) discards the whole burst, so that a
// published image never holds part of a revision.
func (c *Cluster) follow(ctx context.Context, img *Image) (_ *Image, progressed bool, _ error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.backend.Watch(wctx, img.rev)
	if err != nil {
		return img, false, fmt.Errorf("cluster: watch from revision %d: %w", img.rev, err)
	}
	for {
		var (
			batch metadata.WatchBatch
			ok    bool
		)
		select {
		case batch, ok = <-ch:
		case <-ctx.Done():
			return img, progressed, ctx.Err()
		}
		b := newBuilder(img)
		applied := 0
		var stop error
	burst:
		for {
			if !ok {
				stop = errStreamEnded
				break
			}
			if stop = b.apply(batch); stop != nil {
				break
			}
			applied++
			if applied == maxBurst {
				break
			}
			select {
			case batch, ok = <-ch:
			default:
				break burst
			}
		}
		if applied > 0 && !errors.Is(stop, errGap) {
			img = b.build()
			c.publish(img)
			progressed = true
		}
		if stop != nil {
			if ctx.Err() != nil {
				return img, progressed, ctx.Err()
			}
			return img, progressed, stop
		}
	}
}
