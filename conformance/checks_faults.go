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

// unavailableSlack is how late after its deadline a call without a quorum
// may return.
const unavailableSlack = time.Second

// unavailableDeadline is the deadline of the calls made without a quorum.
const unavailableDeadline = 2500 * time.Millisecond

func faultChecks() []Check {
	return []Check{
		{
			Name:     "Faults/MinorityCrashKeepsWorking",
			Clause:   "with a minority of nodes (not the leader) killed, writes, snapshots and watches on the survivors keep working; a restarted node catches up",
			MinNodes: 3,
			Run:      checkMinorityCrash,
		},
		{
			Name:     "Faults/LeaderCrashFailsOver",
			Clause:   "with the leader (and up to a minority) killed, the survivors serve writes again within a deadline, watches resume without gaps, and heartbeating brokers are not fenced",
			Needs:    []metadata.Capability{metadata.CapFailover},
			MinNodes: 3,
			Run:      checkLeaderCrash,
		},
		{
			Name:     "Faults/MajorityLossUnavailable",
			Clause:   "with a majority (leader included) killed, writes and snapshots on a survivor fail with ErrUnavailable by their deadline, never hang, never succeed",
			MinNodes: 3,
			Run:      checkMajorityLoss,
		},
	}
}

// pickVictims returns k distinct nodes: the leader first if withLeader
// (node 0 when the backend names no leader), then the highest-numbered
// others; never the leader if !withLeader.
func pickVictims(n, leader, k int, withLeader bool) (victims, survivors []int) {
	if withLeader {
		if leader < 0 {
			leader = 0
		}
		victims = append(victims, leader)
	}
	for i := n - 1; i >= 0 && len(victims) < k; i-- {
		if i != leader {
			victims = append(victims, i)
		}
	}
	for i := range n {
		if !slices.Contains(victims, i) {
			survivors = append(survivors, i)
		}
	}
	return victims, survivors
}

func (e *env) kill(victims []int) {
	e.t.Helper()
	for _, v := range victims {
		if err := e.c.Kill(v); err != nil {
			e.t.Fatalf("Kill(node %d): %v", v, err)
		}
	}
}

// restartAndCatchUp restarts each victim and checks it serves a Snapshot
// that includes everything up to rev, with every topic of final.
func (e *env) restartAndCatchUp(victims []int, final metadata.State) {
	e.t.Helper()
	for _, v := range victims {
		if err := e.c.Restart(v); err != nil {
			e.t.Fatalf("Restart(node %d): %v", v, err)
		}
		st := e.waitServing(v, fmt.Sprintf("restarted node %d", v))
		if st.Revision < final.Revision {
			e.t.Errorf("restarted node %d: Snapshot at revision %d, before the revision %d committed while it was down", v, st.Revision, final.Revision)
		}
		for name, tp := range final.Topics {
			if got, ok := st.Topics[name]; !ok || got.ID != tp.ID {
				e.t.Errorf("restarted node %d: topic %q committed while it was down is missing", v, name)
			}
		}
	}
}

// resumingStream returns w's batches up to rev; if the stream ends with an
// Err batch other than ErrCompacted (a backend failing over), it resumes
// from the last delivered revision on the same node, a few times.
func (e *env) resumingStream(w *collector, rev metadata.Revision) []metadata.WatchBatch {
	e.t.Helper()
	var all []metadata.WatchBatch
	for attempt := 0; ; attempt++ {
		bs, err := w.untilErr(rev, recoverWithin)
		if err == nil {
			return append(all, bs...)
		}
		if !errors.Is(err, errStreamEnded) || errors.Is(err, metadata.ErrCompacted) || attempt == 3 {
			e.t.Fatalf("node %d: watch from %d: %v", w.node, w.from, err)
		}
		bs = bs[:len(bs)-1] // the Err batch
		all = append(all, bs...)
		from := w.from
		if len(all) > 0 {
			from = all[len(all)-1].Revision
		}
		e.t.Logf("node %d: watch ended with %v; resuming from %d", w.node, err, from)
		node := w.node
		eventually(e.t, recoverWithin, fmt.Sprintf("node %d: resuming the watch from %d", node, from), func() error {
			nw, err := e.tryWatch(node, from)
			if err != nil {
				return err
			}
			w = nw
			return nil
		})
	}
}

func checkMinorityCrash(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	leader := e.leaderIndex()
	victims, survivors := pickVictims(n, leader, (n-1)/2, false)
	t.Logf("leader: node %d; killing %v, keeping %v", leader, victims, survivors)
	s0 := e.snapshot(survivors[0])
	pre := map[int]*collector{}
	for _, j := range survivors {
		pre[j] = e.watch(j, s0.Revision)
	}
	alive := e.register(survivors[0], 1, newIncarnation())
	stop := e.keepAlive(alive.ID, alive.Epoch, survivors, false)
	e.kill(victims)
	e.workload(survivors)
	for _, i := range survivors {
		for _, j := range survivors {
			first := e.allocate(i, 1)
			if st := e.snapshot(j); st.NextProducerID <= first {
				t.Errorf("after the crash: allocation %d on node %d not in a later Snapshot on node %d (NextProducerID %d)", first, i, j, st.NextProducerID)
			}
		}
	}
	post := map[int]*collector{}
	for _, j := range survivors {
		post[j] = e.watch(j, s0.Revision)
	}
	final := e.snapshot(survivors[len(survivors)-1])
	m := e.marker(survivors[0])
	for _, j := range survivors {
		verifyStream(t, fmt.Sprintf("node %d: watch started before the crash", j), s0, pre[j].until(m, deliverWithin), final)
		verifyStream(t, fmt.Sprintf("node %d: watch started after the crash", j), s0, post[j].until(m, deliverWithin), final)
	}
	stop()
	if got := final.Brokers[alive.ID]; got.Fenced || got.Epoch != alive.Epoch {
		t.Errorf("broker 1 heartbeating through the survivors is %+v after the crash, want unfenced with epoch %d", got, alive.Epoch)
	}
	e.restartAndCatchUp(victims, final)
}

func checkLeaderCrash(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	leader := e.leaderIndex()
	victims, survivors := pickVictims(n, leader, (n-1)/2, true)
	t.Logf("leader: node %d; killing %v, keeping %v", leader, victims, survivors)
	s0 := e.snapshot(survivors[0])
	watches := map[int]*collector{}
	for _, j := range survivors {
		watches[j] = e.watch(j, s0.Revision)
	}
	alive := e.register(survivors[0], 1, newIncarnation())
	stop := e.keepAlive(alive.ID, alive.Epoch, survivors, true)
	e.kill(victims)
	killed := time.Now()
	for _, j := range survivors {
		eventually(t, recoverWithin, fmt.Sprintf("node %d accepting writes after the leader crashed", j), func() error {
			ctx, cancel := context.WithTimeout(e.ctx, deliverWithin)
			defer cancel()
			_, err := e.node(j).AllocateProducerIDs(ctx, 1)
			if err != nil && !errors.Is(err, metadata.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
				return permanent(fmt.Errorf("AllocateProducerIDs failed with %w; only ErrUnavailable is allowed while there is no leader", err))
			}
			return err
		})
	}
	t.Logf("survivors accept writes %v after the crash", time.Since(killed).Round(time.Millisecond))
	if leader >= 0 {
		ids := map[int]string{}
		for _, j := range survivors {
			ids[j] = e.info(j).NodeID
		}
		for _, j := range survivors {
			eventually(t, recoverWithin, fmt.Sprintf("node %d naming a surviving leader", j), func() error {
				in := e.info(j)
				for _, s := range survivors {
					if in.Leader == ids[s] {
						return nil
					}
				}
				return fmt.Errorf("Info names leader %q", in.Leader)
			})
		}
	}
	e.workload(survivors)
	final := e.snapshot(survivors[0])
	m := e.marker(survivors[len(survivors)-1])
	for _, j := range survivors {
		verifyStream(t, fmt.Sprintf("node %d: watch across the failover", j), s0, e.resumingStream(watches[j], m), final)
	}
	// Heartbeats went on through the failover: a full session timeout after
	// the new leader took over has passed by now, so a fence would show.
	stop()
	for _, j := range survivors {
		st := e.snapshot(j)
		if got := st.Brokers[alive.ID]; got.Fenced || got.Epoch != alive.Epoch {
			t.Errorf("node %d: broker 1, heartbeating through the failover, is %+v; want unfenced with epoch %d (after a leader change a heartbeating broker must not be fenced)", j, got, alive.Epoch)
		}
	}
	e.restartAndCatchUp(victims, final)
}

func checkMajorityLoss(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	leader := e.leaderIndex()
	victims, survivors := pickVictims(n, leader, n/2+1, true)
	t.Logf("leader: node %d; killing %v, keeping %v", leader, victims, survivors)
	tp := e.createTopic(0, topicSpec("before-loss", 1, 1, 2, 3))
	b := e.register(0, 1, newIncarnation())
	e.kill(victims)
	calls := []struct {
		name string
		f    func(ctx context.Context, be metadata.Backend) error
	}{
		{"Snapshot", func(ctx context.Context, be metadata.Backend) error { _, err := be.Snapshot(ctx); return err }},
		{"CreateTopic", func(ctx context.Context, be metadata.Backend) error {
			_, err := be.CreateTopic(ctx, topicSpec("during-loss", 1, 1))
			return err
		}},
		{"AllocateProducerIDs", func(ctx context.Context, be metadata.Backend) error {
			_, err := be.AllocateProducerIDs(ctx, 1)
			return err
		}},
		{"RegisterBroker", func(ctx context.Context, be metadata.Backend) error {
			_, err := be.RegisterBroker(ctx, brokerReg(2, newIncarnation()))
			return err
		}},
		{"AlterPartition", func(ctx context.Context, be metadata.Backend) error {
			_, err := be.AlterPartition(ctx, metadata.PartitionChange{Topic: tp.Name, Partition: 0, ExpectedPartitionEpoch: 0, Leader: 2, ISR: []int32{2}})
			return err
		}},
		{"UnregisterBroker", func(ctx context.Context, be metadata.Backend) error {
			return be.UnregisterBroker(ctx, b.ID, b.Epoch)
		}},
	}
	var (
		wg   sync.WaitGroup
		errs errorsOf
	)
	for _, s := range survivors {
		for _, c := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(e.ctx, unavailableDeadline)
				defer cancel()
				began := time.Now()
				err := c.f(ctx, e.node(s))
				took := time.Since(began)
				switch {
				case err == nil:
					errs.add("node %d: %s succeeded with a majority (%v) of the nodes killed", s, c.name, victims)
				case !errors.Is(err, metadata.ErrUnavailable):
					errs.add("node %d: %s without a quorum failed with %v, want an error matching ErrUnavailable", s, c.name, err)
				}
				if took > unavailableDeadline+unavailableSlack {
					errs.add("node %d: %s without a quorum returned after %v, deadline %v", s, c.name, took.Round(time.Millisecond), unavailableDeadline)
				}
			}()
		}
	}
	wg.Wait()
	errs.report(t)
}
