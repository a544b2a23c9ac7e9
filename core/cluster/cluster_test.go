package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestEveryBrokerSeesEveryBroker is the failure this package exists to
// prevent: two brokers on two nodes of one backend each list both.
func TestEveryBrokerSeesEveryBroker(t *testing.T) {
	s := newStore(t, 0)
	c1 := startCluster(t, node(t, s, "n1"), 1, "")
	c2 := startCluster(t, node(t, s, "n2"), 2, "")
	waitReady(t, c1, c2)
	for _, c := range []*Cluster{c1, c2} {
		eventually(t, waitTimeout, "both brokers live", func() bool { return slices.Equal(liveIDs(c.Image()), []int32{1, 2}) })
		img := c.Image()
		for _, id := range []int32{1, 2} {
			b, ok := img.Broker(id)
			want := testConfig(id, "").Listeners
			if !ok || !slices.Equal(b.Listeners, want) || b.Fenced || b.Epoch <= 0 {
				t.Errorf("broker %d's image: broker %d = %+v, want listeners %v, live, with an epoch", c.BrokerID(), id, b, want)
			}
		}
		if img.ControllerID() != 1 {
			t.Errorf("broker %d: controller %d, want 1", c.BrokerID(), img.ControllerID())
		}
	}
	e1, _ := c1.Epoch()
	e2, _ := c2.Epoch()
	if b, _ := c2.Image().Broker(1); b.Epoch != e1 || b.IncarnationID != c1.Incarnation() {
		t.Errorf("broker 2 sees broker 1 at epoch %d incarnation %s, broker 1 has %d %s", b.Epoch, b.IncarnationID, e1, c1.Incarnation())
	}
	if e1 == e2 {
		t.Errorf("brokers 1 and 2 share epoch %d", e1)
	}
	// The image is exactly the backend's state.
	st, err := s.Snapshot(testCtx(t))
	mustOK(t, err)
	mustOK(t, c1.WaitRevision(testCtx(t), st.Revision))
	sameState(t, c1.Image(), st)
	// Both brokers answer the backend's cluster id.
	if err := metadata.ValidateClusterID(c1.Image().ClusterID()); err != nil || c2.Image().ClusterID() != c1.Image().ClusterID() {
		t.Errorf("cluster ids: broker 1 %q (%v), broker 2 %q; want one valid id", c1.Image().ClusterID(), err, c2.Image().ClusterID())
	}
}

func TestTopicCreatedOnOneBrokerIsEverywhere(t *testing.T) {
	s := newStore(t, 0)
	c1 := startCluster(t, node(t, s, "n1"), 1, "")
	c2 := startCluster(t, node(t, s, "n2"), 2, "")
	waitReady(t, c1, c2)
	eventually(t, waitTimeout, "broker 1 sees broker 2", func() bool { return len(c1.Image().LiveBrokers()) == 2 })

	tp, err := c1.CreateTopic(testCtx(t), "orders", 4, 2, nil, map[string]string{"retention.ms": "60000"})
	mustOK(t, err)
	// Read-your-writes: broker 1's image has it when CreateTopic returns.
	got, ok := c1.Image().Topic("orders")
	if !ok || got.ID != tp.ID || len(got.Partitions) != 4 || got.Configs["retention.ms"] != "60000" {
		t.Fatalf("broker 1's image right after CreateTopic: %+v, %v", got, ok)
	}
	if tp.ID.IsZero() || tp.CreatedAt <= 0 {
		t.Errorf("topic id %v, created at %d", tp.ID, tp.CreatedAt)
	}
	eventually(t, waitTimeout, "broker 2 sees the topic", func() bool {
		got, ok := c2.Image().Topic("orders")
		return ok && got.ID == tp.ID
	})
	leaders := map[int32]int{}
	for p := range int32(4) {
		for _, c := range []*Cluster{c1, c2} {
			l, epoch, ok := c.Image().LeaderFor("orders", p)
			if !ok || epoch != 0 {
				t.Fatalf("broker %d: LeaderFor(orders, %d) = %d, %d, %v", c.BrokerID(), p, l.ID, epoch, ok)
			}
			part, _ := c.Image().Partition("orders", p)
			if len(part.Replicas) != 2 || part.Leader != part.Replicas[0] || !slices.Equal(part.ISR, part.Replicas) {
				t.Fatalf("partition %d: %+v", p, part)
			}
			if c == c1 {
				leaders[l.ID]++
			}
		}
	}
	if leaders[1] != 2 || leaders[2] != 2 {
		t.Errorf("leaders per broker %v, want 2 each", leaders)
	}
	if byID, ok := c2.Image().TopicByID(tp.ID); !ok || byID.Name != "orders" {
		t.Errorf("TopicByID on broker 2: %q, %v", byID.Name, ok)
	}

	mustOK(t, c2.DeleteTopic(testCtx(t), "orders"))
	if _, ok := c2.Image().Topic("orders"); ok {
		t.Fatal("broker 2's image still has the topic right after DeleteTopic")
	}
	eventually(t, waitTimeout, "broker 1 forgets the topic", func() bool {
		_, ok := c1.Image().Topic("orders")
		return !ok
	})
}

// TestKilledBrokerIsFencedAndRejoins: a broker whose process dies (no
// unregistration, no heartbeats) disappears from the other broker's live
// brokers within the session timeout plus a second, its partitions have no
// live leader, and after a restart it is back with a higher epoch and
// leads its partitions again.
func TestKilledBrokerIsFencedAndRejoins(t *testing.T) {
	s := newStore(t, 0)
	c1 := startCluster(t, node(t, s, "n1"), 1, "")
	n2 := node(t, s, "n2")
	c2 := startCluster(t, n2, 2, "")
	waitReady(t, c1, c2)
	eventually(t, waitTimeout, "broker 1 sees broker 2", func() bool { return len(c1.Image().LiveBrokers()) == 2 })
	_, err := c1.CreateTopic(testCtx(t), "t", 2, 1, nil, nil)
	mustOK(t, err)
	var led int32 = -1 // a partition led by broker 2
	for p := range int32(2) {
		if l, _, _ := c1.Image().LeaderFor("t", p); l.ID == 2 {
			led = p
		}
	}
	if led < 0 {
		t.Fatal("no partition led by broker 2")
	}
	oldEpoch, _ := c2.Epoch()

	// Kill broker 2: its node goes away (every backend call fails), and its
	// process stops without unregistering.
	killed := time.Now()
	n2.Close()
	c2.abandon()
	eventually(t, testSession+time.Second, "broker 2 fenced on broker 1", func() bool {
		return slices.Equal(liveIDs(c1.Image()), []int32{1})
	})
	t.Logf("broker 2 left broker 1's live brokers %v after the kill (session timeout %v)", time.Since(killed).Round(time.Millisecond), testSession)
	img := c1.Image()
	if b, ok := img.Broker(2); !ok || !b.Fenced || b.Epoch != oldEpoch {
		t.Errorf("broker 2 in broker 1's image: %+v, %v; want fenced at epoch %d", b, ok, oldEpoch)
	}
	if _, ok := img.Partition("t", led); !ok {
		t.Fatal("partition of the fenced broker vanished")
	}
	if _, _, ok := img.LeaderFor("t", led); ok {
		t.Error("a partition led by a fenced broker has a live leader")
	}
	// New topics are placed on live brokers only.
	_, err = c1.CreateTopic(testCtx(t), "after", 1, 2, nil, nil)
	mustErr(t, err, ErrInvalidReplicationFactor)
	tp, err := c1.CreateTopic(testCtx(t), "after", 3, 1, nil, nil)
	mustOK(t, err)
	for _, p := range tp.Partitions {
		if !slices.Equal(p.Replicas, []int32{1}) {
			t.Errorf("partition placed on %v with only broker 1 live", p.Replicas)
		}
	}
	// A manual assignment naming only the fenced broker is refused.
	_, err = c1.CreateTopic(testCtx(t), "manual", -1, -1, map[int32][]int32{0: {2}}, nil)
	mustErr(t, err, ErrInvalidReplicaAssignment)

	// Restart broker 2: a new process (new incarnation) on a new node.
	c2b := startCluster(t, node(t, s, "n2b"), 2, "")
	waitReady(t, c2b)
	newEpoch, _ := c2b.Epoch()
	if newEpoch <= oldEpoch {
		t.Errorf("restarted broker 2 has epoch %d, not above %d", newEpoch, oldEpoch)
	}
	eventually(t, waitTimeout, "broker 1 sees broker 2 again", func() bool {
		b, ok := c1.Image().Broker(2)
		return ok && !b.Fenced && b.Epoch == newEpoch && b.IncarnationID == c2b.Incarnation()
	})
	if l, _, ok := c1.Image().LeaderFor("t", led); !ok || l.ID != 2 {
		t.Errorf("restarted broker 2 does not lead partition %d again: %d, %v", led, l.ID, ok)
	}
}

// TestQuickRestartWaitsForOldSession: a broker restarted before its old
// session expired gets ErrDuplicateBroker, is not ready, and registers
// with a higher epoch as soon as the old session is fenced.
func TestQuickRestartWaitsForOldSession(t *testing.T) {
	s := newStore(t, 0)
	c1 := startCluster(t, node(t, s, "n1"), 1, "")
	n2 := node(t, s, "n2")
	c2 := startCluster(t, n2, 2, "")
	waitReady(t, c1, c2)
	oldEpoch, _ := c2.Epoch()

	killed := time.Now()
	n2.Close()
	c2.abandon()
	f := newFault(t, node(t, s, "n2b"))
	c2b := startCluster(t, f, 2, "")
	eventually(t, testSession/2, "a duplicate registration", func() bool { return f.duplicates.Load() > 0 })
	if c2b.Ready() {
		t.Error("ready while the old incarnation holds the id")
	}
	if _, ok := c2b.Epoch(); ok {
		t.Error("an epoch while the old incarnation holds the id")
	}
	waitReady(t, c2b)
	took := time.Since(killed)
	newEpoch, _ := c2b.Epoch()
	if newEpoch <= oldEpoch {
		t.Errorf("epoch %d after restart, not above %d", newEpoch, oldEpoch)
	}
	if took > testSession+time.Second {
		t.Errorf("registered %v after the kill, want within the session timeout %v + 1s", took, testSession)
	}
	t.Logf("restarted broker registered %v after the kill, %d duplicate attempts", took.Round(time.Millisecond), f.duplicates.Load())
	eventually(t, waitTimeout, "broker 1 sees the new incarnation", func() bool {
		b, ok := c1.Image().Broker(2)
		return ok && !b.Fenced && b.Epoch == newEpoch
	})
}

// TestFencedBrokerRegistersAgain: a broker whose heartbeats stop reaching
// the backend for longer than the session is fenced; when they get through
// again it gets ErrFenced and registers with a new epoch.
func TestFencedBrokerRegistersAgain(t *testing.T) {
	s := newStore(t, 0)
	c1 := startCluster(t, node(t, s, "n1"), 1, "")
	f := newFault(t, node(t, s, "n2"))
	c2 := startCluster(t, f, 2, "")
	waitReady(t, c1, c2)
	oldEpoch, _ := c2.Epoch()

	f.heartbeatsDown.Store(true)
	eventually(t, testSession+time.Second, "broker 2 fenced", func() bool {
		b, ok := c1.Image().Broker(2)
		return ok && b.Fenced
	})
	eventually(t, waitTimeout, "broker 2 not ready once fenced in its image", func() bool { return !c2.Ready() })
	f.heartbeatsDown.Store(false)
	eventually(t, waitTimeout, "broker 2 registered again", func() bool {
		e, ok := c2.Epoch()
		return ok && e > oldEpoch
	})
	waitReady(t, c2)
	newEpoch, _ := c2.Epoch()
	eventually(t, waitTimeout, "broker 1 sees the new epoch", func() bool {
		b, ok := c1.Image().Broker(2)
		return ok && !b.Fenced && b.Epoch == newEpoch
	})
	if b, _ := c1.Image().Broker(2); b.IncarnationID != c2.Incarnation() {
		t.Errorf("re-registration changed the incarnation: %s, want %s", b.IncarnationID, c2.Incarnation())
	}
}

// TestShortOutageKeepsTheSession: heartbeats failing with ErrUnavailable
// for less than the session timeout do not re-register.
func TestShortOutageKeepsTheSession(t *testing.T) {
	s := newStore(t, 0)
	f := newFault(t, s)
	c := startCluster(t, f, 1, "")
	waitReady(t, c)
	epoch, _ := c.Epoch()
	f.heartbeatsDown.Store(true)
	eventually(t, testSession/2, "failed heartbeats", func() bool { return f.hbFailures.Load() >= 2 })
	f.heartbeatsDown.Store(false)
	ok := f.hbOK.Load()
	eventually(t, testSession, "heartbeats succeed again", func() bool { return f.hbOK.Load() >= ok+2 })
	st, err := s.Snapshot(testCtx(t))
	mustOK(t, err)
	if b := st.Brokers[1]; b.Epoch != epoch || b.Fenced {
		t.Errorf("session after a short outage: %+v, want epoch %d unfenced", b, epoch)
	}
	if e, _ := c.Epoch(); e != epoch || f.registers.Load() != 1 || !c.Ready() {
		t.Errorf("after a short outage: epoch %d (was %d), %d registrations, ready %v", e, epoch, f.registers.Load(), c.Ready())
	}
}

// TestWatchResumesFromLastRevision: a broken stream (ErrUnavailable, as
// when the plugin restarts) is resumed from the last applied revision,
// without a new snapshot.
func TestWatchResumesFromLastRevision(t *testing.T) {
	s := newStore(t, 0)
	f := newFault(t, s)
	c := startCluster(t, f, 1, "")
	waitReady(t, c)
	for i := range 3 {
		f.breakStream(t, fmt.Errorf("fault: plugin died: %w", metadata.ErrUnavailable))
		_, err := s.CreateTopic(testCtx(t), metadata.TopicSpec{Name: string(rune('a' + i)), ID: tid(byte(i + 1)),
			Partitions: []metadata.PartitionSpec{{Replicas: []int32{1}, Leader: 1}}})
		mustOK(t, err)
		mustOK(t, c.WaitRevision(testCtx(t), s.Revision()))
	}
	st, err := s.Snapshot(testCtx(t))
	mustOK(t, err)
	sameState(t, c.Image(), st)
	if n := f.snapshots.Load(); n != 1 {
		t.Errorf("%d snapshots, want 1 (resumes must not re-snapshot)", n)
	}
	if n := f.watches.Load(); n < 4 {
		t.Errorf("%d watches, want at least 4", n)
	}
}

// TestCompactedResumeResnapshots: the resume point was compacted while the
// stream was down: Watch fails with ErrCompacted, and the Cluster takes a
// new snapshot and goes on watching from it.
func TestCompactedResumeResnapshots(t *testing.T) {
	s := newStore(t, 0)
	f := newFault(t, s)
	c := startCluster(t, f, 1, "")
	waitReady(t, c)
	before := c.Image().Revision()
	f.hold()
	for i := range 3 {
		_, err := s.CreateTopic(testCtx(t), metadata.TopicSpec{Name: string(rune('a' + i)), ID: tid(byte(i + 1)),
			Partitions: []metadata.PartitionSpec{{Replicas: []int32{1}, Leader: 1}}})
		mustOK(t, err)
	}
	mustOK(t, s.Compact(testCtx(t), s.Revision()))
	if c.Image().Revision() != before {
		t.Fatalf("image moved to %d while held at %d", c.Image().Revision(), before)
	}
	f.breakStream(t, errors.New("fault: stream cut"))
	f.unhold()
	mustOK(t, c.WaitRevision(testCtx(t), s.Revision()))
	if n := f.snapshots.Load(); n != 2 {
		t.Errorf("%d snapshots, want 2", n)
	}
	// And the watch goes on from the new snapshot.
	_, err := s.CreateTopic(testCtx(t), metadata.TopicSpec{Name: "later", ID: tid(9), Partitions: []metadata.PartitionSpec{{Replicas: []int32{1}, Leader: 1}}})
	mustOK(t, err)
	mustOK(t, c.WaitRevision(testCtx(t), s.Revision()))
	st, err := s.Snapshot(testCtx(t))
	mustOK(t, err)
	sameState(t, c.Image(), st)
}

// TestCompactedBatchResnapshots: a stream that ends with an ErrCompacted
// batch leads to a new snapshot.
func TestCompactedBatchResnapshots(t *testing.T) {
	s := newStore(t, 0)
	f := newFault(t, s)
	c := startCluster(t, f, 1, "")
	waitReady(t, c)
	f.breakStream(t, metadata.ErrCompacted)
	eventually(t, waitTimeout, "a second snapshot", func() bool { return f.snapshots.Load() == 2 })
	_, err := s.AllocateProducerIDs(testCtx(t), 10)
	mustOK(t, err)
	mustOK(t, c.WaitRevision(testCtx(t), s.Revision()))
	if c.Image().NextProducerID() != 10 {
		t.Errorf("next producer id %d, want 10", c.Image().NextProducerID())
	}
}

// TestForgedBatchIsNeverPublished: a batch that does not follow the image
// (a gap in the feed) is not applied, not even in part; the Cluster takes a
// new snapshot.
func TestForgedBatchIsNeverPublished(t *testing.T) {
	s := newStore(t, 0)
	f := newFault(t, s)
	c := startCluster(t, f, 1, "")
	waitReady(t, c)
	img, changed := c.Current()
	rev := img.Revision()
	f.forge(t, metadata.WatchBatch{Revision: rev + 1, Events: []metadata.Event{
		{Type: metadata.EventBrokerRegistered, Broker: broker(7, int64(rev+1), false)},
		{Type: metadata.EventTopicDeleted, TopicName: "no-such-topic"},
	}})
	eventually(t, waitTimeout, "a second snapshot", func() bool { return f.snapshots.Load() == 2 })
	select {
	case <-changed:
		t.Errorf("an image was published after the forged batch: %v", liveIDs(c.Image()))
	default:
	}
	if _, ok := c.Image().Broker(7); ok {
		t.Error("part of the forged batch was published")
	}
	// The feed goes on from the new snapshot.
	_, err := s.AllocateProducerIDs(testCtx(t), 3)
	mustOK(t, err)
	mustOK(t, c.WaitRevision(testCtx(t), s.Revision()))
	st, err := s.Snapshot(testCtx(t))
	mustOK(t, err)
	sameState(t, c.Image(), st)
}

// TestReadyNeedsOwnRegistrationInImage: registered is not enough, the
// published image must hold the registration.
func TestReadyNeedsOwnRegistrationInImage(t *testing.T) {
	s := newStore(t, 0)
	f := newFault(t, s)
	f.registerDown.Store(true)
	c := startCluster(t, f, 1, "")
	eventually(t, waitTimeout, "a first image", func() bool { return c.Image() != nil })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	mustErr(t, c.WaitReady(ctx), context.DeadlineExceeded)
	if c.Ready() {
		t.Fatal("ready without a registration")
	}
	f.hold()
	f.registerDown.Store(false)
	eventually(t, waitTimeout, "registered", func() bool { _, ok := c.Epoch(); return ok })
	if c.Ready() {
		t.Fatal("ready before the image holds the registration")
	}
	f.unhold()
	waitReady(t, c)
	if !c.Ready() {
		t.Fatal("WaitReady returned but not Ready")
	}
}

// TestStartNeverBlocks: with the backend down, Start returns, nothing is
// ready, admin calls fail with a retriable error by their deadline, and
// Close returns promptly.
func TestStartNeverBlocks(t *testing.T) {
	s := newStore(t, 0)
	dead := s.Node("dead")
	dead.Close()
	c := startCluster(t, dead, 1, "")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	mustErr(t, c.WaitReady(ctx), context.DeadlineExceeded)
	if c.Image() != nil || c.Ready() {
		t.Error("an image or readiness without a backend")
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	_, err := c.CreateTopic(ctx2, "t", 1, 1, nil, nil)
	mustErr(t, err, ErrNoImage, metadata.ErrUnavailable, context.DeadlineExceeded)
	start := time.Now()
	mustOK(t, c.Close()) // never registered: nothing to unregister
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	mustErr(t, c.WaitReady(context.Background()), ErrClosed)
	mustErr(t, c.WaitRevision(context.Background(), 1), ErrClosed)
}

// TestCloseUnregisters: a controlled shutdown removes the broker from
// every image at once, long before its session would expire.
func TestCloseUnregisters(t *testing.T) {
	s := newStore(t, time.Minute)
	c1 := startCluster(t, node(t, s, "n1"), 1, "")
	c2 := startCluster(t, node(t, s, "n2"), 2, "")
	waitReady(t, c1, c2)
	eventually(t, waitTimeout, "broker 1 sees broker 2", func() bool { return len(c1.Image().LiveBrokers()) == 2 })
	mustOK(t, c2.Close())
	mustOK(t, c2.Close()) // idempotent
	eventually(t, waitTimeout, "broker 2 unregistered", func() bool {
		_, ok := c1.Image().Broker(2)
		return !ok
	})
	if c2.Ready() {
		t.Error("closed broker is ready")
	}
	if _, ok := c2.Epoch(); ok {
		t.Error("closed broker has an epoch")
	}
	// The id is free at once for a new incarnation.
	c2b := startCluster(t, node(t, s, "n2b"), 2, "")
	waitReady(t, c2b)
}

// TestCurrentSignalsEveryNewImage: Current's channel is closed when a
// newer image is published, and the loop never waits for a subscriber.
func TestCurrentSignalsEveryNewImage(t *testing.T) {
	s := newStore(t, 0)
	c := startCluster(t, s, 1, "")
	waitReady(t, c)
	img, changed := c.Current()
	// Nobody waits on changed while 50 changes are applied: the loop must
	// not block.
	for i := range 50 {
		_, err := s.AllocateProducerIDs(testCtx(t), i+1)
		mustOK(t, err)
	}
	mustOK(t, c.WaitRevision(testCtx(t), s.Revision()))
	select {
	case <-changed:
	default:
		t.Fatal("changed not closed after newer images")
	}
	if now := c.Image(); now.Revision() <= img.Revision() {
		t.Errorf("revision %d after %d", now.Revision(), img.Revision())
	}
	// A subscriber loop sees the leadership change of a partition.
	tp, err := c.CreateTopic(testCtx(t), "t", 1, 1, nil, nil)
	mustOK(t, err)
	img, changed = c.Current()
	done := make(chan int32, 1)
	go func() {
		defer close(done)
		for {
			if p, ok := img.Partition("t", 0); ok && p.Leader == metadata.NoLeader {
				done <- p.LeaderEpoch
				return
			}
			select {
			case <-changed:
			case <-c.Done():
				return
			}
			img, changed = c.Current()
		}
	}()
	_, err = s.AlterPartition(testCtx(t), metadata.PartitionChange{Topic: "t", Partition: 0, ExpectedPartitionEpoch: tp.Partitions[0].PartitionEpoch,
		Leader: metadata.NoLeader, ISR: []int32{1}})
	mustOK(t, err)
	select {
	case e := <-done:
		if e != 1 {
			t.Errorf("leader epoch %d after the leader change, want 1", e)
		}
	case <-time.After(waitTimeout):
		t.Fatal("subscriber did not see the leader change")
	}
}
