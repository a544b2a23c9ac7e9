package raftmeta

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestWatchBatchesAreCopies: what one watcher receives is its own copy. A
// consumer that modifies the topics, partitions and brokers of its events
// (every event type with slices or maps) changes neither the node's
// history nor what another watch from the same revision delivers.
func TestWatchBatchesAreCopies(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	ctx := testCtx(t, 30*time.Second)
	nd := c.node(0)
	s0, err := nd.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nd.RegisterBroker(ctx, testReg(1, "inc")); err != nil {
		t.Fatal(err)
	}
	tp, err := nd.CreateTopic(ctx, testSpec("t"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nd.AlterPartition(ctx, metadata.PartitionChange{Topic: "t", Partition: 0,
		ExpectedPartitionEpoch: tp.Partitions[0].PartitionEpoch, Leader: 2, ISR: []int32{2, 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := nd.AddPartitions(ctx, "t", 2, []metadata.PartitionSpec{{Replicas: []int32{1, 2}, Leader: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := nd.SetTopicConfigs(ctx, "t", tp.Configs, map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	const changes = 5

	collect := func() []metadata.WatchBatch {
		t.Helper()
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w, err := nd.Watch(wctx, s0.Revision)
		if err != nil {
			t.Fatal(err)
		}
		var bs []metadata.WatchBatch
		for b := range w {
			if b.Err != nil {
				t.Fatal(b.Err)
			}
			bs = append(bs, b)
			if len(bs) == changes {
				return bs
			}
		}
		t.Fatalf("watch closed after %d of %d changes", len(bs), changes)
		return nil
	}
	// deepCopy copies batches through the types' own Clone methods (a
	// zero Topic stays zero: Clone would give it an empty partition list).
	deepCopy := func(bs []metadata.WatchBatch) []metadata.WatchBatch {
		out := make([]metadata.WatchBatch, len(bs))
		for i, b := range bs {
			b.Events = append([]metadata.Event(nil), b.Events...)
			for j, e := range b.Events {
				e.Broker = e.Broker.Clone()
				if e.Topic.Name != "" {
					e.Topic = e.Topic.Clone()
				}
				e.Partition = e.Partition.Clone()
				b.Events[j] = e
			}
			out[i] = b
		}
		return out
	}

	first := collect()
	want := deepCopy(first)
	types := map[metadata.EventType]bool{}
	// Scribble over everything the first watcher got.
	for _, b := range first {
		for _, e := range b.Events {
			types[e.Type] = true
			for i := range e.Broker.Listeners {
				e.Broker.Listeners[i].Host = "scribbled"
			}
			for k := range e.Topic.Configs {
				e.Topic.Configs[k] = "scribbled"
			}
			for i := range e.Topic.Partitions {
				p := &e.Topic.Partitions[i]
				p.Leader = 99
				for j := range p.Replicas {
					p.Replicas[j] = 99
				}
				for j := range p.ISR {
					p.ISR[j] = 99
				}
			}
			for j := range e.Partition.Replicas {
				e.Partition.Replicas[j] = 99
			}
			for j := range e.Partition.ISR {
				e.Partition.ISR[j] = 99
			}
		}
	}
	for _, typ := range []metadata.EventType{metadata.EventBrokerRegistered, metadata.EventTopicCreated,
		metadata.EventPartitionChanged, metadata.EventTopicUpdated} {
		if !types[typ] {
			t.Fatalf("the changes made no %v event: %+v", typ, want)
		}
	}
	if second := collect(); !reflect.DeepEqual(second, want) {
		t.Fatalf("a second watch from %d after the first watcher modified its batches:\n got %+v\nwant %+v", s0.Revision, second, want)
	}
}
