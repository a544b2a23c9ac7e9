package conformance

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func registrationChecks() []Check {
	return []Check{
		{
			Name:   "Registration/VisibleOnEveryNode",
			Clause: "a registration made through any node shows up in every node's Snapshot and Watch, at revision = the broker epoch",
			Run:    checkRegistrationVisible,
		},
		{
			Name:   "Registration/SameIncarnationIsIdempotent",
			Clause: "registering again with the same incarnation returns the same epoch and commits nothing",
			Run:    checkRegistrationIdempotent,
		},
		{
			Name:   "Registration/OtherIncarnationWhileAliveIsDuplicate",
			Clause: "a registration with another incarnation while the session is alive fails with ErrDuplicateBroker and changes nothing",
			Run:    checkRegistrationDuplicate,
		},
		{
			Name:   "Registration/InvalidRejected",
			Clause: "a negative broker id or an empty incarnation id fails with ErrInvalid",
			Run:    checkRegistrationInvalid,
		},
		{
			Name:   "Unregister/RemovedEverywhere",
			Clause: "UnregisterBroker removes the broker from every node (Snapshot and Watch); its heartbeat then gets ErrFenced; it can register again with a higher epoch",
			Run:    checkUnregisterRemoves,
		},
		{
			Name:   "Unregister/StaleEpochRejected",
			Clause: "UnregisterBroker with an epoch that is not the current one fails with ErrStaleEpoch and keeps the broker",
			Run:    checkUnregisterStale,
		},
		{
			Name:   "Unregister/UnknownIsNoop",
			Clause: "UnregisterBroker of an unknown or already unregistered broker returns nil",
			Run:    checkUnregisterUnknown,
		},
	}
}

// keepAlive heartbeats (id, epoch) every heartbeatInterval through the
// given nodes in turn, until the returned stop is called (or the check's
// cleanups run). stop waits for the goroutine and reports failed
// heartbeats; with tolerateUnavailable, heartbeats failing with
// ErrUnavailable or a deadline are retried instead (a backend electing a
// leader), but ErrFenced and ErrStaleEpoch are still failures.
func (e *env) keepAlive(id int32, epoch int64, nodes []int, tolerateUnavailable bool) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	var errs errorsOf
	go func() {
		defer close(done)
		tick := time.NewTicker(e.heartbeatInterval())
		defer tick.Stop()
		for k := 0; ; k++ {
			n := nodes[k%len(nodes)]
			ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
			res, err := e.node(n).Heartbeat(ctx, id, epoch)
			cancel()
			switch {
			case err == nil && res.Epoch != epoch:
				errs.add("node %d: Heartbeat(id %d, epoch %d) returned epoch %d", n, id, epoch, res.Epoch)
			case err == nil:
			case e.ctx.Err() != nil:
				return
			case tolerateUnavailable && (errors.Is(err, metadata.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)):
			default:
				errs.add("node %d: Heartbeat(id %d, epoch %d) of a live broker: %v", n, id, epoch, err)
			}
			select {
			case <-quit:
				return
			case <-e.ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(quit)
			<-done
			errs.report(e.t)
		})
	}
	e.t.Cleanup(stop)
	return stop
}

func allNodes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func sameBroker(a, b metadata.Broker) bool {
	a.Listeners, b.Listeners = canonListeners(a.Listeners), canonListeners(b.Listeners)
	return reflect.DeepEqual(a, b)
}

func checkRegistrationVisible(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	s0 := e.snapshot(0)
	watches := make([]*collector, n)
	for j := range n {
		watches[j] = e.watch(j, s0.Revision)
	}
	brokers := make([]metadata.Broker, n)
	for i := range n {
		brokers[i] = e.register(i, int32(100+i), newIncarnation())
		e.keepAlive(brokers[i].ID, brokers[i].Epoch, allNodes(n), false)
	}
	for j := range n {
		for _, b := range brokers {
			ev, rev, _ := watches[j].waitEvent(deliverWithin, fmt.Sprintf("BrokerRegistered for broker %d", b.ID), func(ev metadata.Event) bool {
				return ev.Type == metadata.EventBrokerRegistered && ev.Broker.ID == b.ID
			})
			if int64(rev) != b.Epoch {
				t.Errorf("node %d: watch delivered the registration of broker %d at revision %d, but its epoch is %d (the epoch is the revision of the registration)", j, b.ID, rev, b.Epoch)
			}
			if !sameBroker(ev.Broker, b) {
				t.Errorf("node %d: watch delivered broker %+v, RegisterBroker returned %+v", j, ev.Broker, b)
			}
		}
	}
	for j := range n {
		eventually(t, deliverWithin, fmt.Sprintf("node %d: Snapshot listing every registered broker", j), func() error {
			st := e.snapshot(j)
			for _, b := range brokers {
				got, ok := st.Brokers[b.ID]
				if !ok {
					return fmt.Errorf("broker %d (registered through node %d) missing at revision %d", b.ID, b.ID-100, st.Revision)
				}
				if !sameBroker(got, b) {
					return fmt.Errorf("broker %d is %+v, RegisterBroker returned %+v", b.ID, got, b)
				}
			}
			return nil
		})
	}
}

func checkRegistrationIdempotent(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	inc := newIncarnation()
	b1 := e.register(0, 7, inc)
	stop := e.keepAlive(b1.ID, b1.Epoch, allNodes(n), false)
	w := e.watch(n-1, metadata.Revision(b1.Epoch))
	for i := range n {
		b2 := e.register(i, 7, inc)
		if !sameBroker(b2, b1) {
			t.Errorf("node %d: registering broker 7 again with the same incarnation returned %+v, the first registration returned %+v (want the same broker, same epoch)", i, b2, b1)
		}
	}
	m := e.marker(0)
	for _, b := range w.until(m, deliverWithin) {
		for _, ev := range b.Events {
			if ev.Type == metadata.EventBrokerRegistered || ev.Type == metadata.EventBrokerFenced {
				t.Errorf("node %d: a repeated registration with the same incarnation committed a change: revision %d %s", n-1, b.Revision, describeEvent(ev))
			}
		}
	}
	stop()
	for j := range n {
		got, ok := e.snapshot(j).Brokers[7]
		if !ok || !sameBroker(got, b1) {
			t.Errorf("node %d: broker 7 is %+v (present %v) after repeated registrations, want %+v", j, got, ok, b1)
		}
	}
}

func checkRegistrationDuplicate(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	b1 := e.register(0, 3, newIncarnation())
	e.keepAlive(b1.ID, b1.Epoch, allNodes(n), false)
	for i := range n {
		ctx, cancel := e.call()
		got, err := e.node(i).RegisterBroker(ctx, brokerReg(3, newIncarnation()))
		cancel()
		expectErr(t, fmt.Sprintf("node %d: RegisterBroker(id 3, another incarnation) while the first session is alive (returned %+v)", i, got), err, metadata.ErrDuplicateBroker)
	}
	for j := range n {
		got, ok := e.snapshot(j).Brokers[3]
		if !ok || !sameBroker(got, b1) {
			t.Errorf("node %d: after rejected duplicates broker 3 is %+v (present %v), want the first registration %+v", j, got, ok, b1)
		}
	}
}

func checkRegistrationInvalid(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	for i := range n {
		ctx, cancel := e.call()
		_, err := e.node(i).RegisterBroker(ctx, brokerReg(-1, newIncarnation()))
		expectErr(t, fmt.Sprintf("node %d: RegisterBroker(id -1)", i), err, metadata.ErrInvalid)
		_, err = e.node(i).RegisterBroker(ctx, brokerReg(5, ""))
		expectErr(t, fmt.Sprintf("node %d: RegisterBroker(id 5, empty incarnation)", i), err, metadata.ErrInvalid)
		cancel()
	}
	st := e.snapshot(0)
	if len(st.Brokers) != 0 {
		t.Errorf("after only invalid registrations the state lists brokers %v", st.Brokers)
	}
}

func checkUnregisterRemoves(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	inc := newIncarnation()
	b := e.register(0, 11, inc)
	stopB := e.keepAlive(b.ID, b.Epoch, allNodes(n), false)
	other := e.register(0, 12, newIncarnation())
	e.keepAlive(other.ID, other.Epoch, allNodes(n), false)
	watches := make([]*collector, n)
	for j := range n {
		watches[j] = e.watch(j, metadata.Revision(b.Epoch))
	}
	stopB()
	ctx, cancel := e.call()
	defer cancel()
	if err := e.node(n-1).UnregisterBroker(ctx, b.ID, b.Epoch); err != nil {
		t.Fatalf("node %d: UnregisterBroker(11, epoch %d): %v", n-1, b.Epoch, err)
	}
	for j := range n {
		st := e.snapshot(j)
		if got, ok := st.Brokers[b.ID]; ok {
			t.Errorf("node %d: broker 11 still in a Snapshot taken after UnregisterBroker returned: %+v", j, got)
		}
		if _, ok := st.Brokers[other.ID]; !ok {
			t.Errorf("node %d: broker 12 (not unregistered) missing", j)
		}
		_, rev, _ := watches[j].waitEvent(deliverWithin, "BrokerUnregistered for broker 11", func(ev metadata.Event) bool {
			return ev.Type == metadata.EventBrokerUnregistered && ev.BrokerID == b.ID
		})
		if int64(rev) <= b.Epoch {
			t.Errorf("node %d: unregistration delivered at revision %d, not after the registration's %d", j, rev, b.Epoch)
		}
	}
	for i := range n {
		_, err := e.node(i).Heartbeat(ctx, b.ID, b.Epoch)
		expectErr(t, fmt.Sprintf("node %d: Heartbeat of unregistered broker 11", i), err, metadata.ErrFenced)
	}
	again := e.register(n-1, b.ID, inc)
	if again.Epoch <= b.Epoch {
		t.Errorf("re-registration of broker 11 after unregistering got epoch %d, not above the old %d", again.Epoch, b.Epoch)
	}
}

func checkUnregisterStale(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	b := e.register(0, 21, newIncarnation())
	e.keepAlive(b.ID, b.Epoch, allNodes(n), false)
	ctx, cancel := e.call()
	defer cancel()
	for i := range n {
		for _, epoch := range []int64{b.Epoch + 1, b.Epoch - 1} {
			err := e.node(i).UnregisterBroker(ctx, b.ID, epoch)
			expectErr(t, fmt.Sprintf("node %d: UnregisterBroker(21, epoch %d) with current epoch %d", i, epoch, b.Epoch), err, metadata.ErrStaleEpoch)
		}
	}
	for j := range n {
		got, ok := e.snapshot(j).Brokers[b.ID]
		if !ok || !sameBroker(got, b) {
			t.Errorf("node %d: after stale unregistrations broker 21 is %+v (present %v), want %+v", j, got, ok, b)
		}
	}
}

func checkUnregisterUnknown(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	b := e.register(0, 31, newIncarnation())
	ctx, cancel := e.call()
	defer cancel()
	if err := e.node(0).UnregisterBroker(ctx, b.ID, b.Epoch); err != nil {
		t.Fatalf("UnregisterBroker(31, epoch %d): %v", b.Epoch, err)
	}
	before := e.snapshot(0)
	for i := range n {
		if err := e.node(i).UnregisterBroker(ctx, b.ID, b.Epoch); err != nil {
			t.Errorf("node %d: UnregisterBroker of already unregistered broker 31: %v, want nil", i, err)
		}
		if err := e.node(i).UnregisterBroker(ctx, 999, 1); err != nil {
			t.Errorf("node %d: UnregisterBroker of never registered broker 999: %v, want nil", i, err)
		}
	}
	after := e.snapshot(0)
	after.Revision = before.Revision
	if !statesEqual(before, after) {
		t.Errorf("unregistering unknown brokers changed the state: %s", diffStates(before, after))
	}
}
