package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls f until it returns nil or within passes.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v: %v", what, within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// followerOf returns a node index other than leader.
func followerOf(c *testCluster, leader int) int {
	return (leader + 1) % c.N()
}

// TestRetriedCommandAppliesOnce proposes one encoded command several times,
// on the leader and forwarded from a follower (as a retry after an unknown
// outcome does): it applies once, and every attempt gets the first result.
func TestRetriedCommandAppliesOnce(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	ctx := testCtx(t, 20*time.Second)
	li, err := c.leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	leader, follower := c.node(li), c.node(followerOf(c, li))
	before, err := follower.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := follower.Watch(ctx, before.Revision)
	if err != nil {
		t.Fatal(err)
	}
	data, err := encodeCommand(cmdAllocateProducerIDs, allocateBody{N: 10})
	if err != nil {
		t.Fatal(err)
	}
	first, err := leader.applyLocal(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	again, err := leader.applyLocal(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := follower.forwardApply(ctx, leader.o.advertise, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*result{again, fwd} {
		if r.Index != first.Index || r.First != first.First || r.err() != nil {
			t.Errorf("retry result %+v, first %+v", r, first)
		}
	}
	// A marker change after the retries; the watch must show one allocation
	// before it.
	if _, err := follower.AllocateProducerIDs(ctx, 1); err != nil {
		t.Fatal(err)
	}
	allocs := 0
	for b := range w {
		if b.Err != nil {
			t.Fatal(b.Err)
		}
		allocs++
		if allocs == 2 {
			break
		}
	}
	st, err := follower.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.NextProducerID != before.NextProducerID+11 {
		t.Errorf("NextProducerID %d, want %d: the retried allocation applied more than once", st.NextProducerID, before.NextProducerID+11)
	}
}

// TestLeaderKillUnderLoad kills the leader while every node writes: a new
// leader takes over within seconds, every acknowledged write is in the
// final state, and no write applied twice.
func TestLeaderKillUnderLoad(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	ctx := testCtx(t, 60*time.Second)
	li, err := c.leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s0, err := c.node(li).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var survivors []int
	for i := range c.N() {
		if i != li {
			survivors = append(survivors, i)
		}
	}
	watch, err := c.node(survivors[0]).Watch(ctx, s0.Revision)
	if err != nil {
		t.Fatal(err)
	}

	type ack struct {
		first int64
		n     int
	}
	var (
		mu      sync.Mutex
		acked   []ack
		calls   int
		stop    = make(chan struct{})
		writers sync.WaitGroup
	)
	for i := range c.N() {
		nd := c.node(i)
		writers.Add(1)
		go func() {
			defer writers.Done()
			for k := 1; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				first, err := nd.AllocateProducerIDs(cctx, k%7+1)
				cancel()
				mu.Lock()
				calls++
				if err == nil {
					acked = append(acked, ack{first, k%7 + 1})
				}
				mu.Unlock()
				if errors.Is(err, errClosed) {
					return // the killed node
				}
				if err != nil && !errors.Is(err, metadata.ErrUnavailable) {
					t.Errorf("allocate: %v", err)
					return
				}
			}
		}()
	}
	// Let some writes commit, then kill the leader.
	eventually(t, 10*time.Second, "writes before the kill", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 30 {
			return fmt.Errorf("%d acked", len(acked))
		}
		return nil
	})
	killed := time.Now()
	if err := c.Kill(li); err != nil {
		t.Fatal(err)
	}
	newLeader, err := c.leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("new leader node %d ready %v after the kill", newLeader, time.Since(killed).Round(time.Millisecond))
	mu.Lock()
	ackedAtFailover := len(acked)
	mu.Unlock()
	eventually(t, 10*time.Second, "writes after the failover", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < ackedAtFailover+30 {
			return fmt.Errorf("%d acked since", len(acked)-ackedAtFailover)
		}
		return nil
	})
	close(stop)
	writers.Wait()

	final, err := c.node(survivors[1]).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Rebuild every applied allocation from the counter's steps on a
	// survivor's watch (started before the kill, so it spans the failover).
	steps := map[int64]int64{} // first -> next
	events := 0
	for prev := s0.NextProducerID; prev < final.NextProducerID; {
		b, ok := <-watch
		if !ok || b.Err != nil {
			t.Fatalf("watch ended at counter %d: %+v", prev, b)
		}
		for _, ev := range b.Events {
			if ev.Type != metadata.EventProducerIDsAllocated {
				t.Fatalf("unexpected event %v", ev.Type)
			}
			steps[prev] = ev.NextProducerID
			prev = ev.NextProducerID
			events++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range acked {
		if next, ok := steps[a.first]; !ok || next != a.first+int64(a.n) {
			t.Errorf("acknowledged allocation of %d ids at %d is not a committed step (step to %d, present %v): a committed write was lost", a.n, a.first, next, ok)
		}
	}
	if events > calls {
		t.Errorf("%d allocations applied by %d calls: some call applied twice", events, calls)
	}
	t.Logf("%d calls, %d acknowledged, %d applied; NextProducerID %d -> %d", calls, len(acked), events, s0.NextProducerID, final.NextProducerID)
}

// TestMembershipChanges adds a fresh node as a voter through a follower,
// demotes it to a non-voter, removes it, and removes and re-adds an
// original member, checking the configuration and that the new node
// serves the replicated state.
func TestMembershipChanges(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	ctx := testCtx(t, 60*time.Second)
	li, err := c.leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fi := followerOf(c, li)
	follower := c.node(fi)
	if _, err := follower.CreateTopic(ctx, testSpec("before-join")); err != nil {
		t.Fatal(err)
	}

	// A fresh node that waits to be added.
	nn, addr := c.startFresh(t, "new")

	if err := follower.AddMember(ctx, metadata.Member{ID: "new", Address: addr, Voter: true}); err != nil {
		t.Fatal(err)
	}
	if m := members(t, ctx, follower)["new"]; !m.Voter || m.Address != addr {
		t.Fatalf("after AddMember: %+v", members(t, ctx, follower))
	}
	st, err := nn.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Topics["before-join"]; !ok {
		t.Fatalf("the new node's snapshot lacks the topic created before it joined: %+v", st)
	}
	// Writes through the new node.
	if _, err := nn.AllocateProducerIDs(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Idempotent.
	if err := nn.AddMember(ctx, metadata.Member{ID: "new", Address: addr, Voter: true}); err != nil {
		t.Fatal(err)
	}
	// Demote.
	if err := follower.AddMember(ctx, metadata.Member{ID: "new", Address: addr, Voter: false}); err != nil {
		t.Fatal(err)
	}
	if m := members(t, ctx, c.node(li))["new"]; m.Voter {
		t.Fatalf("after demotion: %+v", members(t, ctx, c.node(li)))
	}
	// Invalid changes.
	if err := follower.AddMember(ctx, metadata.Member{ID: "other", Address: addr, Voter: true}); !errors.Is(err, metadata.ErrInvalid) {
		t.Errorf("adding a second member with the address of another: %v", err)
	}
	if err := follower.AddMember(ctx, metadata.Member{ID: "x", Address: "0.0.0.0:1"}); !errors.Is(err, metadata.ErrInvalid) {
		t.Errorf("adding an unusable address: %v", err)
	}
	// Remove it (twice: idempotent).
	for range 2 {
		if err := follower.RemoveMember(ctx, "new"); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := members(t, ctx, follower)["new"]; ok {
		t.Fatalf("after RemoveMember: %+v", members(t, ctx, follower))
	}
	// Remove an original voter, write without it, and add it back: it
	// catches up.
	victim := strconv.Itoa((li + 2) % 3)
	vi, _ := strconv.Atoi(victim)
	if err := follower.RemoveMember(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if _, ok := members(t, ctx, follower)[victim]; ok {
		t.Fatalf("after RemoveMember(%s): %+v", victim, members(t, ctx, follower))
	}
	if _, err := follower.CreateTopic(ctx, testSpec("while-removed")); err != nil {
		t.Fatal(err)
	}
	if err := follower.AddMember(ctx, metadata.Member{ID: victim, Address: c.confs[vi].Peers[vi].Address, Voter: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the re-added node catching up", func() error {
		st, err := c.node(vi).Snapshot(ctx)
		if err != nil {
			return err
		}
		if _, ok := st.Topics["while-removed"]; !ok {
			return errors.New("topic created while it was removed missing")
		}
		return nil
	})
	if n := len(members(t, ctx, c.node(li))); n != 3 {
		t.Errorf("%d members at the end, want 3", n)
	}
}

// TestSnapshotInstallAndRestart makes the leader compact its log while a
// follower is down: the follower restarts, gets the leader's snapshot and
// serves everything; its watch history starts at the snapshot. A restart of
// every node then restores from the local snapshots.
func TestSnapshotInstallAndRestart(t *testing.T) {
	c := newTestCluster(t, 3, map[string]string{
		SettingSnapshotThreshold: "32",
		SettingSnapshotInterval:  "20ms",
		SettingTrailingLogs:      "8",
	})
	ctx := testCtx(t, 60*time.Second)
	li, err := c.leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	down := followerOf(c, li)
	up := 3 - li - down
	s0, err := c.node(up).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(down); err != nil {
		t.Fatal(err)
	}
	reg, err := c.node(up).RegisterBroker(ctx, testReg(7, "inc"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := c.node(up).AllocateProducerIDs(ctx, i+1); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "a snapshot on the leader", func() error {
		snaps, err := filepath.Glob(filepath.Join(c.confs[li].DataDir, "snapshots", "*", "state.bin"))
		if err != nil || len(snaps) == 0 {
			return fmt.Errorf("no snapshot yet (%v)", err)
		}
		return nil
	})
	want, err := c.node(up).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(down); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the restarted follower catching up", func() error {
		st, err := c.node(down).Snapshot(ctx)
		if err != nil {
			return err
		}
		if st.NextProducerID != want.NextProducerID || st.Brokers[7].Epoch != reg.Epoch {
			return fmt.Errorf("at %d: next producer id %d", st.Revision, st.NextProducerID)
		}
		if st.ClusterID != s0.ClusterID {
			return fmt.Errorf("cluster id %q, want %q", st.ClusterID, s0.ClusterID)
		}
		return nil
	})
	// Its history starts at the installed snapshot: older resume points are
	// compacted.
	if _, err := c.node(down).Watch(ctx, s0.Revision); !errors.Is(err, metadata.ErrCompacted) {
		t.Errorf("Watch(%d) on the follower restored from a snapshot: %v, want ErrCompacted", s0.Revision, err)
	}
	// Restart everything: state comes back from the local snapshots and logs.
	for i := range 3 {
		if err := c.Stop(i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := c.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := c.waitServing(i, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		st, err := c.node(i).Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Revision < want.Revision || st.NextProducerID != want.NextProducerID || st.Brokers[7].Epoch != reg.Epoch {
			t.Errorf("node %d after restarting every node: %+v, want at least %+v", i, st, want)
		}
		if st.ClusterID == "" || st.ClusterID != s0.ClusterID {
			t.Errorf("node %d after restarting every node: cluster id %q, want %q", i, st.ClusterID, s0.ClusterID)
		}
	}
}

// TestCloseEndsWatchesAndCalls checks Close: watches end with an
// ErrUnavailable batch, later calls fail with ErrUnavailable, and Close is
// idempotent.
func TestCloseEndsWatchesAndCalls(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	ctx := testCtx(t, 20*time.Second)
	nd := c.node(0)
	w, err := nd.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.take(0); err != nil {
		t.Fatal(err)
	}
	if err := nd.Close(); err != nil {
		t.Fatal(err)
	}
	if err := nd.Close(); err != nil {
		t.Fatal(err)
	}
	var last metadata.WatchBatch
	for b := range w {
		last = b
	}
	if !errors.Is(last.Err, metadata.ErrUnavailable) {
		t.Errorf("last batch after Close: %+v", last)
	}
	if _, err := nd.Snapshot(ctx); !errors.Is(err, metadata.ErrUnavailable) {
		t.Errorf("Snapshot after Close: %v", err)
	}
	if _, err := nd.AllocateProducerIDs(ctx, 1); !errors.Is(err, metadata.ErrUnavailable) {
		t.Errorf("write after Close: %v", err)
	}
	if _, err := nd.Watch(ctx, 0); !errors.Is(err, metadata.ErrUnavailable) {
		t.Errorf("Watch after Close: %v", err)
	}
}

// TestNoQuorumFailsByDeadline: a node whose peers are all down fails writes
// and reads with ErrUnavailable (and DeadlineExceeded) before the deadline.
func TestNoQuorumFailsByDeadline(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	ctx := testCtx(t, 20*time.Second)
	for _, i := range []int{1, 2} {
		if err := c.Kill(i); err != nil {
			t.Fatal(err)
		}
	}
	nd := c.node(0)
	for name, call := range map[string]func(context.Context) error{
		"write":     func(ctx context.Context) error { _, err := nd.AllocateProducerIDs(ctx, 1); return err },
		"snapshot":  func(ctx context.Context) error { _, err := nd.Snapshot(ctx); return err },
		"heartbeat": func(ctx context.Context) error { _, err := nd.Heartbeat(ctx, 1, 1); return err },
		"member":    func(ctx context.Context) error { return nd.RemoveMember(ctx, "2") },
	} {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		began := time.Now()
		err := call(cctx)
		took := time.Since(began)
		deadline, _ := cctx.Deadline()
		cancel()
		if !errors.Is(err, metadata.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s without quorum: %v, want ErrUnavailable and DeadlineExceeded", name, err)
		}
		if time.Now().After(deadline.Add(200 * time.Millisecond)) {
			t.Errorf("%s without quorum returned after %v", name, took)
		}
	}
}

// TestHeartbeatGateWaitsForCallsInFlight: close returns only after a
// heartbeat being handled has finished, and later heartbeats are refused
// without reaching raft (which would write to a closed store).
func TestHeartbeatGateWaitsForCallsInFlight(t *testing.T) {
	g := &heartbeatGate{}
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	g.fn = func(rpc raft.RPC) {
		calls.Add(1)
		close(entered)
		<-release
		rpc.Respond(nil, nil)
	}
	firstResp := make(chan raft.RPCResponse, 1)
	go g.handle(raft.RPC{RespChan: firstResp})
	<-entered
	closed := make(chan struct{})
	go func() { g.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned while a heartbeat was being handled")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("close did not return after the heartbeat finished")
	}
	if r := <-firstResp; r.Error != nil {
		t.Fatalf("first heartbeat answered %v", r.Error)
	}
	lateResp := make(chan raft.RPCResponse, 1)
	g.handle(raft.RPC{RespChan: lateResp})
	if r := <-lateResp; !errors.Is(r.Error, raft.ErrRaftShutdown) {
		t.Fatalf("heartbeat after close answered %v, want ErrRaftShutdown", r.Error)
	}
	if calls.Load() != 1 {
		t.Fatalf("raft's handler ran %d times, want 1", calls.Load())
	}
}

// TestDataDirWithoutClusterID opens a data directory as a build without
// cluster ids leaves it (Raft state with commands, no cluster id): the node
// resumes it, keeps its content and commits a cluster id, which stays the
// same across a restart.
func TestDataDirWithoutClusterID(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conf := metadata.Config{
		NodeID:         "1",
		DataDir:        t.TempDir(),
		Peers:          []metadata.Peer{{ID: "1", Address: ln.Addr().String()}},
		SessionTimeout: time.Second,
	}
	// The old directory: the bootstrap configuration at index 1 and a
	// topic creation at index 2, written by raft's own API.
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(conf.DataDir, logStoreFile)})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := raft.NewFileSnapshotStore(conf.DataDir, snapshotKeep, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = "1"
	_, trans := raft.NewInmemTransport(raft.ServerAddress(conf.Peers[0].Address))
	if err := raft.BootstrapCluster(rc, store, store, snaps, trans, raft.Configuration{Servers: []raft.Server{
		{Suffrage: raft.Voter, ID: "1", Address: raft.ServerAddress(conf.Peers[0].Address)},
	}}); err != nil {
		t.Fatal(err)
	}
	data, err := encodeCommand(cmdCreateTopic, createTopicBody{Spec: testSpec("old")})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.StoreLog(&raft.Log{Index: 2, Term: 1, Type: raft.LogCommand, Data: data}); err != nil {
		t.Fatal(err)
	}
	trans.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	logger, closeLog := testLogger(t, slog.LevelWarn)
	t.Cleanup(closeLog)
	c := &testCluster{t: t, logger: logger, confs: []metadata.Config{conf}, nodes: make([]*Node, 1)}
	t.Cleanup(c.closeAll)
	nd, err := open(ctx, conf, logger, ln)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[0] = nd
	if err := c.waitServing(0, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := nd.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Topics["old"]; !ok {
		t.Fatalf("the old directory's topic is gone: %+v", st)
	}
	if err := metadata.ValidateClusterID(st.ClusterID); err != nil {
		t.Fatalf("no cluster id after opening an old directory: %v", err)
	}
	if err := c.Stop(0); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(0); err != nil {
		t.Fatal(err)
	}
	if err := c.waitServing(0, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	again, err := c.node(0).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.ClusterID != st.ClusterID {
		t.Fatalf("cluster id %q after a restart, was %q", again.ClusterID, st.ClusterID)
	}
}

// TestSessionsActivateDeadlines: a new leader gives every live session a
// full timeout from when it activates the table, and the reaper finds
// nothing due before then.
func TestSessionsActivateDeadlines(t *testing.T) {
	now := time.Unix(1000, 0)
	const timeout = 6 * time.Second
	s := newSessions(timeout)
	s.now = func() time.Time { return now }
	s.activate(map[int32]int64{1: 10, 2: 20})
	if len(s.m) != 2 || !s.active {
		t.Fatalf("table %v active %v", s.m, s.active)
	}
	for id, se := range s.m {
		if want := now.Add(timeout); !se.deadline.Equal(want) {
			t.Errorf("session %d deadline %v from now, want %v", id, se.deadline.Sub(now), timeout)
		}
	}
	if _, _, ok, wait := s.nextExpired(); ok || wait != timeout {
		t.Errorf("nextExpired right after activation: due %v, wait %v; want nothing due for %v", ok, wait, timeout)
	}
	now = now.Add(timeout)
	if id, epoch, ok, _ := s.nextExpired(); !ok || id != 1 || epoch != 10 {
		t.Errorf("nextExpired a timeout later: %d@%d due %v, want broker 1 at epoch 10", id, epoch, ok)
	}
}

// TestHeartbeatReportsLeadersTimeout: sessions are held by the leader with
// its own session timeout, so a heartbeat through a node configured with
// another timeout reports the leader's.
func TestHeartbeatReportsLeadersTimeout(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	ctx := testCtx(t, 30*time.Second)
	li, err := c.leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f := followerOf(c, li)
	if err := c.Stop(f); err != nil {
		t.Fatal(err)
	}
	c.confs[f].SessionTimeout = 7 * time.Second
	if err := c.Restart(f); err != nil {
		t.Fatal(err)
	}
	if err := c.waitServing(f, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	b, err := c.node(f).RegisterBroker(ctx, testReg(3, "inc"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		// Compare with the timeout of the node that led throughout the
		// call (leadership rarely moves here; if it does, call again).
		eventually(t, 10*time.Second, fmt.Sprintf("a heartbeat through node %d under one leader", i), func() error {
			before, err := c.leader(time.Second)
			if err != nil {
				return err
			}
			res, err := c.node(i).Heartbeat(ctx, b.ID, b.Epoch)
			if err != nil {
				return err
			}
			if after, err := c.leader(time.Second); err != nil || after != before {
				return fmt.Errorf("leadership moved from node %d during the call", before)
			}
			if want := c.confs[before].SessionTimeout; res.SessionTimeout != want {
				t.Errorf("heartbeat through node %d reports a session timeout of %v, want leader %d's %v", i, res.SessionTimeout, before, want)
			}
			return nil
		})
	}
}
