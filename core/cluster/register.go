package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Ready reports whether this broker is registered and the published Image
// holds its registration: the same epoch and incarnation, not fenced. Only
// then does this broker appear in the Metadata it answers (/readyz).
func (c *Cluster) Ready() bool {
	return c.readyIn(c.view.Load().img)
}

func (c *Cluster) readyIn(img *Image) bool {
	e := c.epoch.Load()
	if e <= 0 {
		return false
	}
	b, ok := img.Broker(c.cfg.BrokerID)
	return ok && !b.Fenced && b.Epoch == e && b.IncarnationID == c.incarnation
}

// WaitReady waits until Ready. It returns ctx's error (wrapped) when ctx
// ends first and ErrClosed when the Cluster closes.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for {
		regChanged := c.regWait()
		v := c.view.Load()
		if c.readyIn(v.img) {
			return nil
		}
		select {
		case <-regChanged:
		case <-v.changed:
		case <-ctx.Done():
			e, _ := c.Epoch()
			return fmt.Errorf("cluster: waiting for broker %d to be ready (epoch %d, image at revision %d): %w",
				c.cfg.BrokerID, e, v.img.Revision(), ctx.Err())
		case <-c.base.Done():
			return ErrClosed
		}
	}
}

// Epoch returns the epoch of this broker's live session; ok is false while
// it is not registered (before the first registration, after it was
// fenced, after Close).
func (c *Cluster) Epoch() (epoch int64, ok bool) {
	e := c.epoch.Load()
	if e <= 0 {
		return 0, false
	}
	return e, true
}

// setEpoch records the session epoch (-1: none) and wakes WaitReady.
func (c *Cluster) setEpoch(e int64) {
	c.regMu.Lock()
	defer c.regMu.Unlock()
	c.epoch.Store(e)
	close(c.regChanged)
	c.regChanged = make(chan struct{})
}

// regWait returns a channel closed at the next setEpoch.
func (c *Cluster) regWait() <-chan struct{} {
	c.regMu.Lock()
	defer c.regMu.Unlock()
	return c.regChanged
}

// runRegistration is the registration loop: register, then heartbeat every
// HeartbeatInterval until the session is lost, then register again. Owned
// by the Cluster (wg); ends when ctx ends.
//
//   - ErrDuplicateBroker at registration: the previous incarnation's
//     session is still alive (a quick restart); retry every heartbeat
//     interval, and at once when the image shows that session fenced.
//   - ErrFenced or ErrStaleEpoch at a heartbeat: the session is gone;
//     register again (a new, higher epoch).
//   - Anything else (ErrUnavailable: no quorum, plugin restarting): retry
//     the same call with backoff; a heartbeat failure never re-registers,
//     since the session may well be alive.
func (c *Cluster) runRegistration(ctx context.Context) {
	defer c.wg.Done()
	reg := metadata.BrokerRegistration{
		ID:            c.cfg.BrokerID,
		IncarnationID: c.incarnation,
		Listeners:     slices.Clone(c.cfg.Listeners),
		Rack:          c.cfg.Rack,
	}
	bo := newBackoff(c.cfg.RetryBackoff, c.cfg.MaxRetryBackoff)
	var ep episode
	duplicate := false
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		b, err := c.backend.RegisterBroker(cctx, reg)
		cancel()
		switch {
		case err == nil:
			bo.reset()
			ep.ok()
			duplicate = false
			c.setEpoch(b.Epoch)
			c.log.Info("broker registered", "epoch", b.Epoch, "incarnation", c.incarnation)
			c.keepAlive(ctx, b.Epoch, bo, &ep)
		case ctx.Err() != nil:
			return
		case errors.Is(err, metadata.ErrDuplicateBroker):
			if !duplicate {
				duplicate = true
				c.log.Warn("broker id held by a previous incarnation whose session is alive; retrying until it expires", "error", err)
			}
			c.waitOldSession(ctx)
		default:
			c.trouble(ctx, &ep, "broker registration failed; retrying", err)
			sleep(ctx, bo.next())
		}
	}
}

// keepAlive heartbeats the session (id, epoch) until it is lost (it then
// clears the epoch and returns) or ctx ends.
func (c *Cluster) keepAlive(ctx context.Context, epoch int64, bo *backoff, ep *episode) {
	interval := c.cfg.HeartbeatInterval
	// A heartbeat that takes longer than this is abandoned and retried.
	callTimeout := min(c.cfg.CallTimeout, max(2*interval, time.Second))
	warned := false
	next := time.Now().Add(interval)
	for {
		if !sleep(ctx, time.Until(next)) {
			return
		}
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		res, err := c.backend.Heartbeat(cctx, c.cfg.BrokerID, epoch)
		cancel()
		switch {
		case err == nil:
			c.lastHeartbeat.Store(time.Now().UnixNano())
			if ep.ok() {
				c.log.Info("heartbeats recovered", "epoch", epoch)
			}
			bo.reset()
			if !warned && res.SessionTimeout > 0 && 3*interval > res.SessionTimeout {
				warned = true
				c.log.Warn("heartbeat interval is more than a third of the session timeout; a short stall will fence this broker",
					"heartbeat_interval", interval, "session_timeout", res.SessionTimeout)
			}
			next = start.Add(interval)
		case ctx.Err() != nil:
			return
		case errors.Is(err, metadata.ErrFenced), errors.Is(err, metadata.ErrStaleEpoch):
			c.setEpoch(-1)
			c.log.Warn("broker session lost; registering again", "epoch", epoch, "error", err)
			return
		default:
			c.trouble(ctx, ep, "heartbeat failed; retrying (the session may still be alive)", err, "epoch", epoch)
			next = time.Now().Add(min(bo.next(), interval))
		}
	}
}

// waitOldSession waits one heartbeat interval, or less if a new image shows
// the other incarnation's session of our id fenced or gone.
func (c *Cluster) waitOldSession(ctx context.Context) {
	t := time.NewTimer(c.cfg.HeartbeatInterval)
	defer t.Stop()
	_, changed := c.Current()
	for {
		select {
		case <-t.C:
			return
		case <-ctx.Done():
			return
		case <-changed:
		}
		var img *Image
		img, changed = c.Current()
		if b, ok := img.Broker(c.cfg.BrokerID); !ok || b.Fenced {
			return
		}
	}
}
