package conformance

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func persistenceChecks() []Check {
	return []Check{
		{
			Name:   "Persistence/RestartKeepsStateAndRevisions",
			Clause: "after every node is stopped (and, again, killed) and restarted, the state is intact on every node and new changes get revisions above every earlier one",
			Needs:  []metadata.Capability{metadata.CapPersistence},
			Run:    checkPersistence,
		},
	}
}

// restartAll stops (or kills) every node, restarts them one after the
// other, and waits until each serves a Snapshot.
func (e *env) restartAll(kill bool) {
	e.t.Helper()
	verb := "Stop"
	for i := range e.c.N() {
		var err error
		if kill {
			verb = "Kill"
			err = e.c.Kill(i)
		} else {
			err = e.c.Stop(i)
		}
		if err != nil {
			e.t.Fatalf("%s(node %d): %v", verb, i, err)
		}
	}
	for i := range e.c.N() {
		if err := e.c.Restart(i); err != nil {
			e.t.Fatalf("Restart(node %d) after %s of every node: %v", i, verb, err)
		}
	}
	for i := range e.c.N() {
		e.waitServing(i, fmt.Sprintf("node %d after %s and Restart of every node", i, verb))
	}
}

// waitServing polls node i until a Snapshot succeeds.
func (e *env) waitServing(i int, what string) metadata.State {
	e.t.Helper()
	var st metadata.State
	eventually(e.t, recoverWithin, what+": serving a Snapshot", func() error {
		ctx, cancel := context.WithTimeout(e.ctx, deliverWithin)
		defer cancel()
		var err error
		st, err = e.node(i).Snapshot(ctx)
		return err
	})
	return st
}

// sameDurableState compares what must survive a restart: topics, the
// producer-id counter, and the brokers' sessions (id, incarnation, epoch,
// listeners) — not whether a session was fenced meanwhile, which time
// decides.
func sameDurableState(a, b metadata.State) bool {
	a, b = canonState(a), canonState(b)
	a.Revision, b.Revision = 0, 0
	for id, br := range a.Brokers {
		br.Fenced = false
		a.Brokers[id] = br
	}
	for id, br := range b.Brokers {
		br.Fenced = false
		b.Brokers[id] = br
	}
	return reflect.DeepEqual(a, b)
}

func checkPersistence(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	e.workload(allNodes(n))
	e.register(0, 1, newIncarnation())
	tp := e.createTopic(n-1, topicSpec("durable", 3, 1, 2, 3))
	e.alter(0, metadata.PartitionChange{Topic: "durable", Partition: 1, ExpectedPartitionEpoch: tp.Partitions[1].PartitionEpoch, Leader: 3, ISR: []int32{3}})
	e.allocate(0, 77)
	for round, kill := range []bool{false, true} {
		before := e.snapshot(0)
		e.restartAll(kill)
		how := map[bool]string{false: "stopped", true: "killed"}[kill]
		for j := range n {
			after := e.snapshot(j)
			if after.Revision < before.Revision {
				t.Errorf("round %d: node %d restarted (all %s) is at revision %d, before %d", round, j, how, after.Revision, before.Revision)
			}
			if !sameDurableState(before, after) {
				t.Errorf("round %d: node %d restarted (all %s) lost state: %s", round, j, how, diffStates(before, after))
			}
		}
		spec := topicSpec(fmt.Sprintf("after-restart-%d", round), 1, 1)
		created := e.createTopic(round%n, spec)
		b := e.register(n-1, int32(100+round), newIncarnation())
		if created.CreatedAt <= before.Revision || b.Epoch <= int64(before.Revision) {
			t.Errorf("round %d: after restarting every node (%s) new changes got revisions %d and %d, not above the revision %d reached before (revisions must never be reused)",
				round, how, created.CreatedAt, b.Epoch, before.Revision)
		}
		// The history after `before` is either kept, and then complete, or
		// compacted.
		w, err := e.tryWatch(0, before.Revision)
		if errors.Is(err, metadata.ErrCompacted) {
			t.Logf("round %d: history before the restart compacted: %v", round, err)
			continue
		}
		if err != nil {
			t.Errorf("round %d: Watch(%d) after restart: %v, want a stream or ErrCompacted", round, before.Revision, err)
			continue
		}
		final := e.snapshot(0)
		m := e.marker(0)
		bs, err := w.untilErr(m, deliverWithin)
		if errors.Is(err, metadata.ErrCompacted) {
			t.Logf("round %d: history before the restart compacted (Err batch): %v", round, err)
			continue
		}
		if err != nil {
			t.Errorf("round %d: watch from the pre-restart revision %d: %v", round, before.Revision, err)
			continue
		}
		verifyStream(t, fmt.Sprintf("round %d: watch from the pre-restart revision %d", round, before.Revision), before, bs, final)
	}
}
