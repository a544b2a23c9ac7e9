package memory

import (
	"context"
	"fmt"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Watch delivers every change after from, one batch per revision; see
// metadata.Backend. Each watch has its own goroutine reading a cursor over
// the store's history, so it never blocks writers or other watchers.
//
// Watch returns ErrCompacted if changes after from are no longer kept; a
// watcher that falls behind the history (HistoryLimit, Compact) gets an
// ErrCompacted batch. When the handle or the store closes, the channel gets
// an ErrUnavailable batch (replacing a batch not yet received, if the
// channel is full) and closes. When ctx ends, the channel just closes.
// from = 0 starts at the beginning of the store's history while none of it
// has been discarded; a from after the current revision waits for it.
func (s *Store) Watch(ctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, error) {
	if from < 0 {
		return nil, fmt.Errorf("memory: watch from revision %d: %w", from, metadata.ErrInvalid)
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	c, h := s.c, s.h
	defer c.mu.Unlock()
	if from == 0 && !c.trimmed {
		from = c.histStart
	}
	if from < c.histStart {
		return nil, fmt.Errorf("memory: watch from revision %d, history starts after %d: %w", from, c.histStart, metadata.ErrCompacted)
	}
	ch := make(chan metadata.WatchBatch, 1)
	c.wg.Add(1)
	h.wg.Add(1)
	go s.runWatch(ctx, from+1, ch)
	return ch, nil
}

// runWatch delivers the batches from revision next on to ch. Owned by the
// core and the handle (both wait for it on Close); it ends when ctx ends,
// when either closes, or when its cursor falls out of the history.
func (s *Store) runWatch(ctx context.Context, next metadata.Revision, ch chan metadata.WatchBatch) {
	c, h := s.c, s.h
	defer c.wg.Done()
	defer h.wg.Done()
	for {
		c.mu.Lock()
		if c.closed || h.closed {
			c.mu.Unlock()
			endWith(ch, errClosed)
			return
		}
		if next-1 < c.histStart {
			start := c.histStart
			c.mu.Unlock()
			err := fmt.Errorf("memory: watcher at revision %d fell behind the history, which starts after %d: %w", next-1, start, metadata.ErrCompacted)
			select {
			case ch <- metadata.WatchBatch{Err: err}:
				close(ch)
			case <-ctx.Done():
				close(ch)
			case <-c.done:
				endWith(ch, errClosed)
			case <-h.done:
				endWith(ch, errClosed)
			}
			return
		}
		if next > c.state.Revision {
			changed := c.changed
			c.mu.Unlock()
			select {
			case <-changed:
			case <-ctx.Done():
				close(ch)
				return
			case <-c.done:
			case <-h.done:
			}
			continue
		}
		b := c.history[next-c.histStart-1]
		c.mu.Unlock()
		select {
		case ch <- cloneBatch(b):
			next = b.Revision + 1
		case <-ctx.Done():
			close(ch)
			return
		case <-c.done:
		case <-h.done:
		}
	}
}

// endWith ends a stream with an Err batch without blocking: ch's only
// sender is the caller, so once a batch not yet received is taken back out
// of the one-slot buffer, the Err batch fits.
func endWith(ch chan metadata.WatchBatch, err error) {
	for {
		select {
		case ch <- metadata.WatchBatch{Err: err}:
			close(ch)
			return
		default:
			select {
			case <-ch:
			default:
			}
		}
	}
}

// cloneBatch deep-copies a history batch for delivery, so that a receiver
// may keep or modify it.
func cloneBatch(b metadata.WatchBatch) metadata.WatchBatch {
	evs := make([]metadata.Event, len(b.Events))
	for i, e := range b.Events {
		switch e.Type {
		case metadata.EventBrokerRegistered, metadata.EventBrokerFenced:
			e.Broker = e.Broker.Clone()
		case metadata.EventTopicCreated, metadata.EventTopicUpdated:
			e.Topic = e.Topic.Clone()
		case metadata.EventPartitionChanged:
			e.Partition = e.Partition.Clone()
		}
		evs[i] = e
	}
	b.Events = evs
	return b
}
