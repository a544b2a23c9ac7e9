package raftmeta

import (
	"context"
	"fmt"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// watchChunk is how many batches a watcher copies per look at the history.
const watchChunk = 64

// watchBuffer is the capacity of a watch channel.
const watchBuffer = 16

// errGrace bounds how long a watcher ended by Close waits for its consumer
// to take the Err batch.
const errGrace = time.Second

// Watch delivers every change this node applies after from, in order; see
// metadata.Backend. The history kept is the last raft.history changes (and
// none before the revision of a snapshot this node restored); older resume
// points fail with ErrCompacted, returned or, for a watcher that falls
// behind the history, as the Err batch. Each watcher has its own goroutine
// reading a cursor over the history, so a slow consumer blocks no one. The
// channel closes when ctx ends; on Close it ends with an Err batch
// wrapping metadata.ErrUnavailable.
//
// Watch does not wait for a leader: a node cut off from its cluster
// delivers nothing new until it catches up.
func (n *Node) Watch(ctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	if from < 0 {
		return nil, fmt.Errorf("raftmeta: watch from revision %d: %w", from, metadata.ErrInvalid)
	}
	if start := n.fsm.historyStart(); from < start {
		return nil, fmt.Errorf("raftmeta: watch from revision %d: history starts after %d: %w", from, start, metadata.ErrCompacted)
	}
	out := make(chan metadata.WatchBatch, watchBuffer)
	if !n.goFunc(func() { n.watch(ctx, from, out) }) {
		return nil, errClosed
	}
	return out, nil
}

// watch feeds out from the history until ctx ends, the node closes or the
// cursor falls out of the history.
func (n *Node) watch(ctx context.Context, cursor metadata.Revision, out chan<- metadata.WatchBatch) {
	defer close(out)
	end := func(err error) {
		t := time.NewTimer(errGrace)
		defer t.Stop()
		select {
		case out <- metadata.WatchBatch{Err: err}:
		case <-ctx.Done():
		case <-t.C:
		}
	}
	for {
		bs, compacted, changed := n.fsm.next(cursor, watchChunk)
		if compacted {
			end(fmt.Errorf("raftmeta: watch at revision %d: history starts after %d: %w", cursor, n.fsm.historyStart(), metadata.ErrCompacted))
			return
		}
		for _, b := range bs {
			b.Events = cloneEvents(b.Events)
			select {
			case out <- b:
				cursor = b.Revision
			case <-ctx.Done():
				return
			case <-n.done:
				end(errClosed)
				return
			}
		}
		if len(bs) == watchChunk {
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		case <-n.done:
			end(errClosed)
			return
		}
	}
}

func cloneEvents(es []metadata.Event) []metadata.Event {
	out := make([]metadata.Event, len(es))
	for i, e := range es {
		switch e.Type {
		case metadata.EventBrokerRegistered, metadata.EventBrokerFenced:
			e.Broker = e.Broker.Clone()
		case metadata.EventTopicCreated, metadata.EventTopicUpdated:
			e.Topic = e.Topic.Clone()
		case metadata.EventPartitionChanged:
			e.Partition = e.Partition.Clone()
		}
		out[i] = e
	}
	return out
}
