package etcdmeta_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	"github.com/chronik-go/chronik/metadata-etcd/internal/etcdtest"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Faults of etcd members under live backends (the conformance harness
// kills a chronik node together with its member; here the backends stay
// up and every one of them has every member's endpoint).

// threeNodes starts a 3-member etcd and three backends on it.
func threeNodes(t *testing.T, prefix string) (*etcdtest.Cluster, []metadata.Backend) {
	t.Helper()
	ec := startEtcd(t, 3)
	var nodes []metadata.Backend
	for i := range 3 {
		nodes = append(nodes, newBackend(t, ec.Endpoints(), prefix, func(c *etcdmeta.Config) { c.NodeID = fmt.Sprint(i) }))
	}
	return ec, nodes
}

// work commits a topic creation, a partition change and a producer-id
// allocation through node, each with its own deadline; they must succeed.
func work(t *testing.T, node metadata.Backend, name string) {
	t.Helper()
	call := func() context.Context { return ctxFor(t, 10*time.Second) }
	tp, err := node.CreateTopic(call(), spec(name, 2))
	if err != nil {
		t.Fatalf("CreateTopic(%s): %v", name, err)
	}
	if _, err := node.AlterPartition(call(), metadata.PartitionChange{Topic: name, Partition: 1,
		ExpectedPartitionEpoch: tp.Partitions[1].PartitionEpoch, Leader: 0, ISR: []int32{0, 1}}); err != nil {
		t.Fatalf("AlterPartition(%s/1): %v", name, err)
	}
	if _, err := node.AllocateProducerIDs(call(), 5); err != nil {
		t.Fatalf("AllocateProducerIDs: %v", err)
	}
}

// sameStreams checks that every watcher delivered the same batches up to
// final and that replaying them over s0 gives final.
func sameStreams(t *testing.T, s0, final metadata.State, ws []*watcher) {
	t.Helper()
	var first []metadata.WatchBatch
	for i, w := range ws {
		bs := w.until(final.Revision, 20*time.Second)
		var upto []metadata.WatchBatch
		for _, b := range bs {
			if b.Revision <= final.Revision {
				upto = append(upto, b)
			}
		}
		replay(t, fmt.Sprintf("node %d", i), s0, upto, final)
		if i == 0 {
			first = upto
		} else if !reflect.DeepEqual(upto, first) {
			t.Fatalf("node %d delivered %d batches, node 0 %d; streams differ", i, len(upto), len(first))
		}
	}
}

func TestKillOneMember(t *testing.T) {
	ec, nodes := threeNodes(t, "/kill-one/")
	ctx := ctxFor(t, 2*time.Minute)
	s0, err := nodes[0].Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ws []*watcher
	for _, n := range nodes {
		ws = append(ws, watch(t, n, s0.Revision))
	}
	live, err := nodes[0].RegisterBroker(ctx, reg(1, "live"))
	if err != nil {
		t.Fatal(err)
	}
	hb := keepAlive(t, nodes, live.ID, live.Epoch, 250*time.Millisecond)

	leader := ec.Leader()
	for round, victim := range []int{leader, (leader + 1) % 3} {
		role := map[int]string{0: "leader", 1: "follower"}[round]
		ec.Kill(victim)
		began := time.Now()
		for i, n := range nodes {
			work(t, n, fmt.Sprintf("r%d-n%d", round, i))
		}
		t.Logf("etcd %s (member %d) killed: a write through every node took %v", role, victim, time.Since(began).Round(time.Millisecond))
		ec.Restart(victim)
	}
	final, err := nodes[2].Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameStreams(t, s0, final, ws)
	hb.stop()
	if errs := hb.failures(); len(errs) > 0 {
		t.Errorf("heartbeats of the live broker failed: %v", errs)
	}
	if got := final.Brokers[live.ID]; got.Fenced || got.Epoch != live.Epoch {
		t.Errorf("live broker is %+v, want unfenced at epoch %d", got, live.Epoch)
	}
	if evs, _ := ws[0].events(isFence(live.ID)); len(evs) > 0 {
		t.Errorf("the heartbeating broker was fenced: %+v", evs)
	}
}

func TestKillTwoMembers(t *testing.T) {
	ec, nodes := threeNodes(t, "/kill-two/")
	ctx := ctxFor(t, 2*time.Minute)
	tp, err := nodes[0].CreateTopic(ctx, spec("before", 1))
	if err != nil {
		t.Fatal(err)
	}
	s0, err := nodes[0].Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ws []*watcher
	for _, n := range nodes {
		ws = append(ws, watch(t, n, s0.Revision))
	}
	live, err := nodes[1].RegisterBroker(ctx, reg(1, "live"))
	if err != nil {
		t.Fatal(err)
	}
	hb := keepAlive(t, nodes, live.ID, live.Epoch, 250*time.Millisecond)
	silent, err := nodes[2].RegisterBroker(ctx, reg(2, "silent"))
	if err != nil {
		t.Fatal(err)
	}

	leader := ec.Leader()
	victims := []int{leader, (leader + 1) % 3}
	for _, v := range victims {
		ec.Kill(v)
	}
	killed := time.Now()
	const deadline = 2 * time.Second
	calls := map[string]func(context.Context, metadata.Backend) error{
		"Snapshot": func(ctx context.Context, b metadata.Backend) error { _, err := b.Snapshot(ctx); return err },
		"CreateTopic": func(ctx context.Context, b metadata.Backend) error {
			_, err := b.CreateTopic(ctx, spec("during", 1))
			return err
		},
		"AllocateProducerIDs": func(ctx context.Context, b metadata.Backend) error {
			_, err := b.AllocateProducerIDs(ctx, 1)
			return err
		},
		"RegisterBroker": func(ctx context.Context, b metadata.Backend) error {
			_, err := b.RegisterBroker(ctx, reg(3, "x"))
			return err
		},
		"Heartbeat": func(ctx context.Context, b metadata.Backend) error {
			_, err := b.Heartbeat(ctx, live.ID, live.Epoch)
			return err
		},
		"UnregisterBroker": func(ctx context.Context, b metadata.Backend) error {
			return b.UnregisterBroker(ctx, silent.ID, silent.Epoch)
		},
		"DeleteTopic": func(ctx context.Context, b metadata.Backend) error { return b.DeleteTopic(ctx, "before") },
		"Info":        func(ctx context.Context, b metadata.Backend) error { _, err := b.Info(ctx); return err },
		"AlterPartition": func(ctx context.Context, b metadata.Backend) error {
			_, err := b.AlterPartition(ctx, metadata.PartitionChange{Topic: tp.Name, Partition: 0, Leader: 1, ISR: []int32{1}})
			return err
		},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	for i, n := range nodes {
		for name, call := range calls {
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				began := time.Now()
				err := call(cctx, n)
				took := time.Since(began)
				mu.Lock()
				defer mu.Unlock()
				if !errors.Is(err, metadata.ErrUnavailable) {
					problems = append(problems, fmt.Sprintf("node %d: %s without quorum: %v, want ErrUnavailable", i, name, err))
				}
				if took > deadline+time.Second {
					problems = append(problems, fmt.Sprintf("node %d: %s took %v with a %v deadline", i, name, took, deadline))
				}
			})
		}
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	// Stay without quorum for longer than the session timeout.
	if rest := 3*time.Second - time.Since(killed); rest > 0 {
		time.Sleep(rest) // the outage's length is the point, not an ordering
	}
	for _, v := range victims {
		if err := ec.Launch(v); err != nil {
			t.Fatal(err)
		}
	}
	recovered := time.Now()
	for i, n := range nodes {
		eventually(t, 20*time.Second, fmt.Sprintf("node %d writing again", i), func() error {
			c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := n.AllocateProducerIDs(c, 1)
			return err
		})
	}
	t.Logf("writes through every node again %v after the members were restarted", time.Since(recovered).Round(time.Millisecond))
	eventually(t, 15*time.Second, "silent broker fenced", func() error {
		if evs, _ := ws[0].events(isFence(silent.ID)); len(evs) == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	t.Logf("silent broker fenced %v after the members were restarted", time.Since(recovered).Round(time.Millisecond))
	// The live broker has had more than a session timeout since recovery.
	time.Sleep(1500 * time.Millisecond) // a window in which a wrong fence would show
	work(t, nodes[0], "after")
	final, err := nodes[0].Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameStreams(t, s0, final, ws)
	hb.stop()
	if errs := hb.failures(); len(errs) > 0 {
		t.Errorf("heartbeats of the live broker failed other than with ErrUnavailable: %v", errs)
	}
	if got := final.Brokers[live.ID]; got.Fenced || got.Epoch != live.Epoch {
		t.Errorf("live broker is %+v after the outage, want unfenced at epoch %d", got, live.Epoch)
	}
	if got := final.Brokers[silent.ID]; !got.Fenced {
		t.Errorf("silent broker is %+v, want fenced", got)
	}
}

func TestWatchResumesAndCompactionUnderLaggingWatcher(t *testing.T) {
	ec := startEtcd(t, 3)
	// lag reaches etcd through member 0 only; x through the others.
	lag := newBackend(t, []string{ec.Endpoint(0)}, "/lag/")
	x := newBackend(t, []string{ec.Endpoint(1), ec.Endpoint(2)}, "/lag/")
	ctx := ctxFor(t, time.Minute)
	s0, err := lag.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, lag, s0.Revision)
	work(t, x, "one")

	// A cut that heals: the stream resumes where it was, nothing lost or
	// repeated.
	ec.Disconnect(0)
	work(t, x, "two")
	ec.Reconnect(0)
	work(t, x, "three")
	final, err := x.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replay(t, "watch across a cut", s0, w.until(final.Revision, 20*time.Second), final)

	// A cut during which the history is compacted: the stream ends with
	// ErrCompacted when it tries to resume.
	delivered := final.Revision
	ec.Disconnect(0)
	work(t, x, "four")
	cut, err := x.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Compact(ctx, cut.Revision); err != nil {
		t.Fatal(err)
	}
	ec.Reconnect(0)
	eventually(t, 20*time.Second, "lagging watch ending with ErrCompacted", func() error {
		bs, errb, _ := w.snapshot()
		if errb == nil {
			return errors.New("no Err batch yet")
		}
		if !errors.Is(errb, metadata.ErrCompacted) {
			t.Fatalf("lagging watch ended with %v, want ErrCompacted", errb)
		}
		for _, b := range bs[:len(bs)-1] {
			if b.Revision > delivered {
				t.Fatalf("lagging watch delivered revision %d from the compacted history (delivered %d before the cut)", b.Revision, delivered)
			}
		}
		return nil
	})
	if _, err := lag.Watch(ctx, delivered); !errors.Is(err, metadata.ErrCompacted) {
		t.Fatalf("Watch(%d) after Compact(%d): %v, want ErrCompacted", delivered, cut.Revision, err)
	}
	// Re-snapshot and watch from it.
	s2, err := lag.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w2 := watch(t, lag, s2.Revision)
	work(t, x, "five")
	final, err = x.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replay(t, "watch after re-snapshot", s2, w2.until(final.Revision, 20*time.Second), final)
}

func TestPrefixesAreSeparateClusters(t *testing.T) {
	ec := startEtcd(t, 1)
	a := newBackend(t, ec.Endpoints(), "/tenant-a/")
	b := newBackend(t, ec.Endpoints(), "/tenant-b/")
	// A prefix that extends another's name without nesting under it.
	ab := newBackend(t, ec.Endpoints(), "/tenant-a-b/")
	ctx := ctxFor(t, time.Minute)
	var ws []*watcher
	var s0s []metadata.State
	for _, n := range []metadata.Backend{a, b, ab} {
		s, err := n.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s0s = append(s0s, s)
		ws = append(ws, watch(t, n, s.Revision))
	}
	// The same broker id and topic name in every cluster; a's broker is left
	// to expire.
	for i, n := range []metadata.Backend{a, b, ab} {
		br, err := n.RegisterBroker(ctx, reg(1, fmt.Sprint("inc-", i)))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			keepAlive(t, []metadata.Backend{n}, br.ID, br.Epoch, 250*time.Millisecond)
		}
		if _, err := n.CreateTopic(ctx, spec("shared-name", i+1)); err != nil {
			t.Fatal(err)
		}
		if _, err := n.AllocateProducerIDs(ctx, 10*(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "a's broker fenced", func() error {
		if evs, _ := ws[0].events(isFence(1)); len(evs) == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	if err := b.DeleteTopic(ctx, "shared-name"); err != nil {
		t.Fatal(err)
	}
	for i, n := range []metadata.Backend{a, b, ab} {
		st, err := n.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		replay(t, fmt.Sprint("cluster ", i), s0s[i], ws[i].until(st.Revision, 10*time.Second), st)
		if len(st.Brokers) != 1 || st.Brokers[1].IncarnationID != fmt.Sprint("inc-", i) {
			t.Errorf("cluster %d sees brokers %+v", i, st.Brokers)
		}
		if fenced := st.Brokers[1].Fenced; fenced != (i == 0) {
			t.Errorf("cluster %d: broker 1 fenced=%v", i, fenced)
		}
		wantTopics := 1
		if i == 1 {
			wantTopics = 0
		}
		if len(st.Topics) != wantTopics || (wantTopics == 1 && len(st.Topics["shared-name"].Partitions) != i+1) {
			t.Errorf("cluster %d sees topics %+v", i, st.Topics)
		}
		if st.NextProducerID != int64(10*(i+1)) {
			t.Errorf("cluster %d: next producer id %d, want %d", i, st.NextProducerID, 10*(i+1))
		}
	}
}

// TestLeaderChangeNoMassFencing emulates etcd issue 15247: an etcd leader
// that stalls revokes every lease when it resumes, just as leadership
// moves. The backends must not fence the brokers that keep heartbeating:
// they hold off for a session timeout after the leader change, and the
// heartbeats re-attach the sessions meanwhile. A silent broker is fenced
// once the hold-off is over. In "late-node", a fourth node starts after
// the leader change, so the first term its fencer sees is the new one; it
// must hold off from its start as well.
func TestLeaderChangeNoMassFencing(t *testing.T) {
	t.Run("running-nodes", func(t *testing.T) { testLeaderChangeNoMassFencing(t, false) })
	t.Run("late-node", func(t *testing.T) { testLeaderChangeNoMassFencing(t, true) })
}

func testLeaderChangeNoMassFencing(t *testing.T, lateNode bool) {
	ec, nodes := threeNodes(t, "/stall/")
	ctx := ctxFor(t, time.Minute)
	s0, err := nodes[0].Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, nodes[0], s0.Revision)
	var live []metadata.Broker
	for i := range int32(4) {
		b, err := nodes[i%3].RegisterBroker(ctx, reg(10+i, "live"))
		if err != nil {
			t.Fatal(err)
		}
		live = append(live, b)
		keepAlive(t, nodes, b.ID, b.Epoch, 250*time.Millisecond)
	}
	silent, err := nodes[0].RegisterBroker(ctx, reg(99, "silent"))
	if err != nil {
		t.Fatal(err)
	}
	// Every node has answered calls by now, so every fencer knows the
	// current term before it changes.
	admin := ec.Client()
	leader := ec.Leader()
	if err := ec.MoveLeader(ctx, (leader+1)%3); err != nil {
		t.Fatal(err)
	}
	moved := time.Now()
	if lateNode {
		late := newBackend(t, ec.Endpoints(), "/stall/", func(c *etcdmeta.Config) { c.NodeID = "late" })
		if _, err := late.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, late)
	}
	resp, err := admin.Get(ctx, "/stall/sessions/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if _, err := admin.Revoke(ctx, clientv3.LeaseID(kv.Lease)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("leader moved from member %d; %d session leases revoked at once", leader, len(resp.Kvs))
	eventually(t, 10*time.Second, "silent broker fenced", func() error {
		if evs, _ := w.events(isFence(silent.ID)); len(evs) == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	if took := time.Since(moved); took < 900*time.Millisecond {
		t.Errorf("silent broker fenced %v after the leader change, within the hold-off of a session timeout", took)
	} else {
		t.Logf("silent broker fenced %v after the leader change", took.Round(time.Millisecond))
	}
	time.Sleep(time.Second) // a window in which wrong fences would show
	for _, b := range live {
		if evs, _ := w.events(isFence(b.ID)); len(evs) > 0 {
			t.Errorf("heartbeating broker %d fenced after the leader change", b.ID)
		}
	}
	st, err := nodes[1].Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range live {
		if got := st.Brokers[b.ID]; got.Fenced || got.Epoch != b.Epoch {
			t.Errorf("broker %d is %+v, want live at epoch %d", b.ID, got, b.Epoch)
		}
	}
}

// TestWatchLeavesIsolatedMember: a watch whose stream is on a member that
// gets partitioned from its quorum (clients still reach it) must not stay
// there silently: with WithRequireLeader etcd ends the stream once the
// member has no leader, and the watch resumes on a member that has one,
// delivering what the majority commits meanwhile.
func TestWatchLeavesIsolatedMember(t *testing.T) {
	ec := startEtcd(t, 3)
	ctx := ctxFor(t, time.Minute)
	if ec.Leader() == 0 {
		if err := ec.MoveLeader(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	// iso knows every member but reaches only member 0 while 1 and 2 are
	// disconnected, so its watch stream starts there.
	ec.Disconnect(1)
	ec.Disconnect(2)
	iso := newBackend(t, ec.Endpoints(), "/rl/")
	x := newBackend(t, ec.DirectEndpoints()[1:], "/rl/")
	s0, err := x.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, iso, s0.Revision)
	work(t, x, "one")
	st, err := x.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.until(st.Revision, 10*time.Second)
	ec.Reconnect(1)
	ec.Reconnect(2)
	ec.Isolate(0)
	t.Cleanup(func() { ec.Rejoin(0) })
	cut := time.Now()
	work(t, x, "two")
	final, err := x.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replay(t, "watch moved off the isolated member", s0, w.until(final.Revision, 20*time.Second), final)
	t.Logf("delivered %v after member 0 was isolated", time.Since(cut).Round(time.Millisecond))
}
