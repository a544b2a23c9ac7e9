package conformance

import (
	"context"
	"fmt"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func livenessChecks() []Check {
	return []Check{
		{
			Name:   "Liveness/ExpiredBrokerFenced",
			Clause: "a broker that stops heartbeating is fenced (EventBrokerFenced on every node's Watch, Fenced in every node's Snapshot) after the session timeout and within it plus slack, never before",
			Run:    checkExpiredFenced,
		},
		{
			Name:   "Liveness/HeartbeatingBrokerNeverFenced",
			Clause: "a broker heartbeating well within its session timeout is never fenced, over more than three session timeouts, while a silent broker beside it is",
			Run:    checkHeartbeatKeepsAlive,
		},
		{
			Name:   "Liveness/SimultaneousExpiryFencedAtDistinctRevisions",
			Clause: "several brokers expiring together are all fenced, one broker per committed change (distinct revisions)",
			Run:    checkSimultaneousExpiry,
		},
		{
			Name:   "Liveness/FencedBrokerMustRegisterAgain",
			Clause: "a fenced broker's heartbeat fails with ErrFenced; it registers again (same or new incarnation) with a higher epoch, and its old epoch is then stale",
			Run:    checkFencedReregister,
		},
		{
			Name:   "Liveness/HeartbeatWrongEpochIsStale",
			Clause: "a heartbeat with an epoch other than the live session's fails with ErrStaleEpoch; one for an unknown broker with ErrFenced",
			Run:    checkHeartbeatWrongEpoch,
		},
	}
}

func isFence(id int32) func(metadata.Event) bool {
	return func(ev metadata.Event) bool {
		return ev.Type == metadata.EventBrokerFenced && ev.Broker.ID == id
	}
}

func checkExpiredFenced(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	s0 := e.snapshot(0)
	watches := make([]*collector, n)
	for j := range n {
		watches[j] = e.watch(j, s0.Revision)
	}
	b := e.register(0, 1, newIncarnation())
	lastBeat := time.Now()
	e.heartbeat(n-1, b.ID, b.Epoch)
	for j := range n {
		ev, rev, seen := watches[j].waitEvent(e.fenceDeadline(), "BrokerFenced for broker 1", isFence(b.ID))
		if j == 0 {
			if early := lastBeat.Add(e.opts.SessionTimeout * 9 / 10); seen.Before(early) {
				t.Errorf("broker 1 fenced %v after its last heartbeat started, before the session timeout %v", seen.Sub(lastBeat), e.opts.SessionTimeout)
			}
		}
		want := b
		want.Fenced = true
		if !sameBroker(ev.Broker, want) {
			t.Errorf("node %d: BrokerFenced event holds %+v, want the registration with Fenced set: %+v", j, ev.Broker, want)
		}
		if int64(rev) <= b.Epoch {
			t.Errorf("node %d: fence of broker 1 at revision %d, not after its registration %d", j, rev, b.Epoch)
		}
	}
	for j := range n {
		got, ok := e.snapshot(j).Brokers[b.ID]
		if !ok || !got.Fenced || got.Epoch != b.Epoch {
			t.Errorf("node %d: after the fence event broker 1 is %+v (present %v), want it kept, Fenced, with epoch %d", j, got, ok, b.Epoch)
		}
	}
}

func checkHeartbeatKeepsAlive(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	s0 := e.snapshot(0)
	watches := make([]*collector, n)
	for j := range n {
		watches[j] = e.watch(j, s0.Revision)
	}
	alive := e.register(0, 1, newIncarnation())
	began := time.Now()
	stop := e.keepAlive(alive.ID, alive.Epoch, allNodes(n), false)
	silent := e.register(n-1, 2, newIncarnation())
	// The silent broker proves the backend's fencing runs during the window.
	watches[0].waitEvent(e.fenceDeadline(), "BrokerFenced for the silent broker 2", isFence(silent.ID))
	window := 3*e.opts.SessionTimeout + e.opts.SessionTimeout/2
	select {
	case <-time.After(time.Until(began.Add(window))):
	case <-e.ctx.Done():
		t.Fatalf("check cancelled")
	}
	stop()
	m := e.marker(0)
	for j := range n {
		for _, b := range watches[j].until(m, deliverWithin) {
			for _, ev := range b.Events {
				if isFence(alive.ID)(ev) {
					t.Errorf("node %d: broker 1 heartbeating every %v was fenced at revision %d with session timeout %v", j, e.heartbeatInterval(), b.Revision, e.opts.SessionTimeout)
				}
			}
		}
		st := e.snapshot(j)
		if got := st.Brokers[alive.ID]; got.Fenced || got.Epoch != alive.Epoch {
			t.Errorf("node %d: heartbeating broker 1 is %+v after %v, want unfenced with epoch %d", j, got, window, alive.Epoch)
		}
		if got := st.Brokers[silent.ID]; !got.Fenced {
			t.Errorf("node %d: silent broker 2 is %+v, want fenced", j, got)
		}
	}
}

func checkSimultaneousExpiry(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	const k = 4
	s0 := e.snapshot(0)
	watches := make([]*collector, n)
	for j := range n {
		watches[j] = e.watch(j, s0.Revision)
	}
	var brokers []metadata.Broker
	for i := range k {
		brokers = append(brokers, e.register(i%n, int32(40+i), newIncarnation()))
	}
	for j := range n {
		revs := map[metadata.Revision]int32{}
		for _, b := range brokers {
			_, rev, _ := watches[j].waitEvent(e.fenceDeadline()+e.opts.SessionTimeout, fmt.Sprintf("BrokerFenced for broker %d", b.ID), isFence(b.ID))
			if other, dup := revs[rev]; dup {
				t.Errorf("node %d: brokers %d and %d fenced in the same change (revision %d); the contract fences one broker per committed change", j, other, b.ID, rev)
			}
			revs[rev] = b.ID
		}
		bs, _, _ := watches[j].snapshotBatches()
		for _, b := range bs {
			fences := 0
			for _, ev := range b.Events {
				if ev.Type == metadata.EventBrokerFenced {
					fences++
				}
			}
			if fences > 1 {
				t.Errorf("node %d: revision %d fences %d brokers: %s", j, b.Revision, fences, describeBatch(b))
			}
		}
	}
	for j := range n {
		st := e.snapshot(j)
		for _, b := range brokers {
			if got := st.Brokers[b.ID]; !got.Fenced {
				t.Errorf("node %d: broker %d is %+v, want fenced", j, b.ID, got)
			}
		}
	}
}

func checkFencedReregister(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	s0 := e.snapshot(0)
	w := e.watch(0, s0.Revision)
	incA := newIncarnation()
	a := e.register(0, 1, incA)
	b := e.register(n-1, 2, newIncarnation())
	_, fenceA, _ := w.waitEvent(e.fenceDeadline(), "BrokerFenced for broker 1", isFence(a.ID))
	w.waitEvent(e.fenceDeadline(), "BrokerFenced for broker 2", isFence(b.ID))
	ctx, cancel := e.call()
	defer cancel()
	for i := range n {
		_, err := e.node(i).Heartbeat(ctx, a.ID, a.Epoch)
		expectErr(t, fmt.Sprintf("node %d: Heartbeat of fenced broker 1 with its last epoch %d", i, a.Epoch), err, metadata.ErrFenced)
	}
	// Same incarnation: the old session is fenced, so this is a new session.
	a2 := e.register(n-1, a.ID, incA)
	if a2.Epoch <= int64(fenceA) {
		t.Errorf("broker 1 re-registered (same incarnation) after being fenced at revision %d got epoch %d, want a new higher epoch", fenceA, a2.Epoch)
	}
	e.keepAlive(a2.ID, a2.Epoch, allNodes(n), false)
	// New incarnation of a fenced broker: accepted, not a duplicate.
	b2 := e.register(0, b.ID, newIncarnation())
	if b2.Epoch <= b.Epoch || b2.Epoch <= a2.Epoch {
		t.Errorf("broker 2 re-registered (new incarnation) after being fenced got epoch %d; want above its old epoch %d and above the epoch %d committed before it", b2.Epoch, b.Epoch, a2.Epoch)
	}
	e.keepAlive(b2.ID, b2.Epoch, allNodes(n), false)
	for i := range n {
		_, err := e.node(i).Heartbeat(ctx, a.ID, a.Epoch)
		expectErr(t, fmt.Sprintf("node %d: Heartbeat of broker 1 with the epoch %d of its fenced session (current %d)", i, a.Epoch, a2.Epoch), err, metadata.ErrStaleEpoch)
	}
	for _, nb := range []metadata.Broker{a2, b2} {
		ev, rev, _ := w.waitEvent(deliverWithin, fmt.Sprintf("re-registration of broker %d", nb.ID), func(ev metadata.Event) bool {
			return ev.Type == metadata.EventBrokerRegistered && ev.Broker.ID == nb.ID && ev.Broker.Epoch == nb.Epoch
		})
		if int64(rev) != nb.Epoch || !sameBroker(ev.Broker, nb) {
			t.Errorf("re-registration of broker %d delivered as %+v at revision %d, RegisterBroker returned %+v", nb.ID, ev.Broker, rev, nb)
		}
	}
	for j := range n {
		st := e.snapshot(j)
		for _, nb := range []metadata.Broker{a2, b2} {
			if got := st.Brokers[nb.ID]; !sameBroker(got, nb) {
				t.Errorf("node %d: broker %d is %+v, want the new session %+v", j, nb.ID, got, nb)
			}
		}
	}
}

func checkHeartbeatWrongEpoch(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	b := e.register(0, 1, newIncarnation())
	e.keepAlive(b.ID, b.Epoch, allNodes(n), false)
	ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
	defer cancel()
	for i := range n {
		for _, epoch := range []int64{b.Epoch + 1, b.Epoch - 1, 0} {
			_, err := e.node(i).Heartbeat(ctx, b.ID, epoch)
			expectErr(t, fmt.Sprintf("node %d: Heartbeat(broker 1, epoch %d) with current epoch %d", i, epoch, b.Epoch), err, metadata.ErrStaleEpoch)
		}
		e.heartbeat(i, b.ID, b.Epoch)
		_, err := e.node(i).Heartbeat(ctx, 4242, 1)
		expectErr(t, fmt.Sprintf("node %d: Heartbeat of never registered broker 4242", i), err, metadata.ErrFenced)
	}
}
