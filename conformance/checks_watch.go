package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func watchChecks() []Check {
	return []Check{
		{
			Name:   "Watch/CompleteOrderedIdenticalOnEveryNode",
			Clause: "under concurrent writes through every node, each node's Watch from a snapshot delivers strictly increasing revisions, the same batches on every node, and snapshot + every batch = a later Snapshot",
			Run:    checkWatchComplete,
		},
		{
			Name:   "Watch/ResumeAfterCancel",
			Clause: "a watch cancelled midway and resumed (on another node) from its last delivered revision loses and repeats nothing",
			Run:    checkWatchResume,
		},
		{
			Name:   "Watch/CancelClosesStream",
			Clause: "cancelling a watch's context closes its channel promptly without an Err batch, also for an idle stream and one waiting on a future revision",
			Run:    checkWatchCancel,
		},
		{
			Name:   "Watch/CompactedThenResnapshot",
			Clause: "after Compact, a Watch from an older revision fails with ErrCompacted (returned or as the Err batch); a new Snapshot and a Watch from it work",
			Needs:  []metadata.Capability{metadata.CapCompact},
			Run:    checkWatchCompacted,
		},
	}
}

// workload runs, concurrently on each given node, a mix of every kind of
// write on entities of its own: a broker registers and heartbeats, topics
// are created, partitions change leader and ISR by compare-and-set,
// producer ids are allocated, a topic is deleted, brokers unregister. It
// fails the check if a write fails.
func (e *env) workload(nodes []int) {
	e.t.Helper()
	if errs := e.workloadErrs(nodes); len(errs) > 0 {
		for _, err := range errs {
			e.t.Errorf("%s", err)
		}
		e.t.FailNow()
	}
}

// workloadErrs is workload for any goroutine: it returns the failures
// instead of reporting them.
func (e *env) workloadErrs(nodes []int) []string {
	var (
		wg   sync.WaitGroup
		errs errorsOf
	)
	for _, i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.workOn(i); err != nil {
				errs.add("node %d: workload: %v", i, err)
			}
		}()
	}
	wg.Wait()
	return errs.errs
}

func (e *env) workOn(i int) error {
	ctx, cancel := context.WithTimeout(e.ctx, 3*opTimeout)
	defer cancel()
	b := e.node(i)
	k := e.seq.Add(1)
	x, err := b.RegisterBroker(ctx, brokerReg(k, newIncarnation()))
	if err != nil {
		return fmt.Errorf("RegisterBroker(%d): %w", k, err)
	}
	if _, err := b.Heartbeat(ctx, x.ID, x.Epoch); err != nil {
		return fmt.Errorf("Heartbeat(%d): %w", k, err)
	}
	ta := topicSpec(fmt.Sprintf("work-%d-a", k), 2, 1, 2, 3)
	if _, err := b.CreateTopic(ctx, ta); err != nil {
		return fmt.Errorf("CreateTopic(%s): %w", ta.Name, err)
	}
	p0, err := b.AlterPartition(ctx, metadata.PartitionChange{Topic: ta.Name, Partition: 0, ExpectedPartitionEpoch: 0, Leader: 2, ISR: []int32{1, 2, 3}})
	if err != nil {
		return fmt.Errorf("AlterPartition(%s/0 leader 2): %w", ta.Name, err)
	}
	if _, err := b.AllocateProducerIDs(ctx, 10); err != nil {
		return fmt.Errorf("AllocateProducerIDs: %w", err)
	}
	tb := topicSpec(fmt.Sprintf("work-%d-b", k), 1, 3)
	if _, err := b.CreateTopic(ctx, tb); err != nil {
		return fmt.Errorf("CreateTopic(%s): %w", tb.Name, err)
	}
	if _, err := b.AlterPartition(ctx, metadata.PartitionChange{Topic: ta.Name, Partition: 1, ExpectedPartitionEpoch: 0, Leader: 2, ISR: []int32{2}}); err != nil {
		return fmt.Errorf("AlterPartition(%s/1 shrink ISR): %w", ta.Name, err)
	}
	if err := b.DeleteTopic(ctx, tb.Name); err != nil {
		return fmt.Errorf("DeleteTopic(%s): %w", tb.Name, err)
	}
	if _, err := b.AlterPartition(ctx, metadata.PartitionChange{Topic: ta.Name, Partition: 0, ExpectedPartitionEpoch: p0.PartitionEpoch, Leader: 3, ISR: []int32{3, 1}}); err != nil {
		return fmt.Errorf("AlterPartition(%s/0 leader 3): %w", ta.Name, err)
	}
	if _, err := b.AllocateProducerIDs(ctx, 5); err != nil {
		return fmt.Errorf("AllocateProducerIDs: %w", err)
	}
	ky := e.seq.Add(1)
	y, err := b.RegisterBroker(ctx, brokerReg(ky, newIncarnation()))
	if err != nil {
		return fmt.Errorf("RegisterBroker(%d): %w", ky, err)
	}
	if err := b.UnregisterBroker(ctx, y.ID, y.Epoch); err != nil {
		return fmt.Errorf("UnregisterBroker(%d): %w", ky, err)
	}
	if err := b.UnregisterBroker(ctx, x.ID, x.Epoch); err != nil {
		return fmt.Errorf("UnregisterBroker(%d): %w", k, err)
	}
	return nil
}

// verifyStream checks one node's batches from `from` up to final.Revision:
// ordered, gap-free (they rebuild final from base).
func verifyStream(t T, what string, base metadata.State, bs []metadata.WatchBatch, final metadata.State) {
	t.Helper()
	checkStream(t, what, base.Revision, bs)
	got, err := applyAll(base, upTo(bs, final.Revision), final.Revision)
	if err != nil {
		t.Errorf("%s: applying the delivered batches to the snapshot at revision %d failed (a gap or a wrong event?): %v", what, base.Revision, err)
		return
	}
	if !statesEqual(got, final) {
		t.Errorf("%s: snapshot at revision %d + %d delivered batches != Snapshot at revision %d (a lost, duplicated or wrong event): %s",
			what, base.Revision, len(upTo(bs, final.Revision)), final.Revision, diffStates(final, got))
	}
}

func checkWatchComplete(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	s0 := e.snapshot(0)
	watches := make([]*collector, n)
	for j := range n {
		watches[j] = e.watch(j, s0.Revision)
	}
	e.workload(allNodes(n))
	e.workload(allNodes(n))
	final := e.snapshot(n - 1)
	m := e.marker(0)
	streams := make([][]metadata.WatchBatch, n)
	for j := range n {
		streams[j] = upTo(watches[j].until(m, deliverWithin), final.Revision)
		verifyStream(t, fmt.Sprintf("node %d", j), s0, streams[j], final)
	}
	if len(streams[0]) < 2*12*n {
		t.Errorf("node 0 delivered %d batches for a workload of at least %d committed changes", len(streams[0]), 2*12*n)
	}
	for j := 1; j < n; j++ {
		if !batchesEqual(streams[0], streams[j]) {
			t.Errorf("node %d's stream differs from node 0's: %s", j, firstDifference(streams[0], streams[j]))
		}
	}
}

func checkWatchResume(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	s0 := e.snapshot(0)
	w1 := e.watch(0, s0.Revision)
	e.workload(allNodes(n))
	mid := e.snapshot(0).Revision
	w1.until(mid, deliverWithin)
	// Cancel while more writes are being committed.
	workDone := make(chan []string, 1)
	go func() { workDone <- e.workloadErrs(allNodes(n)) }()
	w1.until(mid+1, deliverWithin)
	closed := w1.stopWithin(promptly)
	for _, err := range <-workDone {
		t.Errorf("%s", err)
	}
	if !closed || t.Failed() {
		t.FailNow()
	}
	bs1, errb, _ := w1.snapshotBatches()
	if errb != nil {
		t.Fatalf("node 0: watch cancelled by its context ended with an Err batch: %v", errb)
	}
	last := bs1[len(bs1)-1].Revision
	w2 := e.watch(n-1, last)
	e.workload(allNodes(n))
	final := e.snapshot(n - 1)
	m := e.marker(0)
	bs2 := w2.until(m, deliverWithin)
	all := append(slices.Clone(bs1), bs2...)
	verifyStream(t, fmt.Sprintf("node 0 up to revision %d then node %d resumed from it", last, n-1), s0, all, final)
}

func checkWatchCancel(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	s0 := e.snapshot(0)
	var busy, idle, future []*collector
	for j := range n {
		busy = append(busy, e.watch(j, s0.Revision))
	}
	rev := e.marker(0)
	cur := e.snapshot(0).Revision
	farAway := cur + 1<<40
	for j := range n {
		idle = append(idle, e.watch(j, cur))
		w, err := e.tryWatch(j, farAway)
		if err != nil {
			t.Fatalf("node %d: Watch from a future revision %d (current %d) must wait for it, got error %v", j, farAway, cur, err)
		}
		future = append(future, w)
	}
	for j := range n {
		busy[j].until(rev, deliverWithin)
	}
	e.marker(n - 1)
	kinds := []struct {
		name string
		ws   []*collector
	}{{"a stream that delivered changes", busy}, {"an idle stream", idle}, {"a stream waiting on a future revision", future}}
	for _, k := range kinds {
		for j, w := range k.ws {
			began := time.Now()
			if !w.stopWithin(promptly) {
				continue
			}
			bs, errb, _ := w.snapshotBatches()
			if errb != nil {
				t.Errorf("node %d: %s ended with an Err batch after its context was cancelled: %v (want a plain close)", j, k.name, errb)
			}
			t.Logf("node %d: %s closed %v after cancel", j, k.name, time.Since(began).Round(time.Millisecond))
			for _, b := range bs {
				if b.Revision <= w.from && b.Err == nil {
					t.Errorf("node %d: %s from %d delivered revision %d", j, k.name, w.from, b.Revision)
				}
			}
		}
	}
}

func checkWatchCompacted(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	k := n - 1
	comp, ok := e.node(k).(metadata.Compactor)
	if !ok {
		t.Fatalf("harness declares %q but node %d (%T) does not implement metadata.Compactor", metadata.CapCompact, k, e.node(k))
	}
	s0 := e.snapshot(k)
	for range 3 {
		e.allocate(0, 1)
	}
	e.createTopic(0, topicSpec("compacted", 1, 1))
	s1 := e.snapshot(k)
	ctx, cancel := e.call()
	defer cancel()
	if err := comp.Compact(ctx, s1.Revision); err != nil {
		t.Fatalf("node %d: Compact(%d): %v", k, s1.Revision, err)
	}
	w, err := e.tryWatch(k, s0.Revision)
	if err == nil {
		eventually(t, deliverWithin, fmt.Sprintf("node %d: watch from compacted revision %d ending with an Err batch", k, s0.Revision), func() error {
			bs, errb, closed := w.snapshotBatches()
			if errb != nil {
				err = errb
				if len(bs) > 1 {
					return permanent(fmt.Errorf("it delivered %d batches before the Err batch; the history after %d is compacted", len(bs)-1, s0.Revision))
				}
				return nil
			}
			if len(bs) > 0 {
				return permanent(fmt.Errorf("it delivered revision %d from compacted history (compacted up to %d)", bs[0].Revision, s1.Revision))
			}
			if closed {
				return permanent(errors.New("channel closed without an Err batch"))
			}
			return errors.New("nothing delivered yet")
		})
	}
	expectErr(t, fmt.Sprintf("node %d: Watch from revision %d after Compact(%d)", k, s0.Revision, s1.Revision), err, metadata.ErrCompacted)
	// The history after the compaction point is kept.
	wKept := e.watch(k, s1.Revision)
	// Re-snapshot and watch from it.
	s2 := e.snapshot(k)
	if s2.Revision < s1.Revision {
		t.Errorf("node %d: Snapshot after Compact has revision %d, before %d", k, s2.Revision, s1.Revision)
	}
	w2 := e.watch(k, s2.Revision)
	e.createTopic(0, topicSpec("after-compaction", 1, 1))
	final := e.snapshot(k)
	m := e.marker(0)
	verifyStream(t, fmt.Sprintf("node %d: watch from the new snapshot", k), s2, w2.until(m, deliverWithin), final)
	verifyStream(t, fmt.Sprintf("node %d: watch from the compaction point %d", k, s1.Revision), s1, wKept.until(m, deliverWithin), final)
}
