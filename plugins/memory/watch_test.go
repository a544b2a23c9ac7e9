package memory

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// TestListWatchConcurrent runs writers on several nodes while watchers on
// every node follow from a snapshot: each watcher sees every revision once,
// in order, without gaps, and ends at the final state.
func TestListWatchConcurrent(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{NodeID: "0"})
	nodes := []*Store{s, s.Node("1"), s.Node("2")}
	t.Cleanup(func() {
		for _, n := range nodes[1:] {
			n.Close()
		}
	})
	_, err := s.CreateTopic(ctx, spec("t", metadata.PartitionSpec{Replicas: []int32{1, 2}, Leader: 1}))
	mustOK(t, err)

	type follower struct {
		st metadata.State
		ch <-chan metadata.WatchBatch
	}
	var fs []follower
	for _, n := range nodes {
		st, err := n.Snapshot(ctx)
		mustOK(t, err)
		ch, err := n.Watch(ctx, st.Revision)
		mustOK(t, err)
		fs = append(fs, follower{st, ch})
	}

	const perWriter = 50
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perWriter {
				var err error
				switch j % 3 {
				case 0:
					_, err = n.AllocateProducerIDs(ctx, 1+j)
				case 1:
					_, err = n.RegisterBroker(ctx, reg(int32(i*1000+j), "x"))
				case 2:
					_, err = n.CreateTopic(ctx, spec(fmt.Sprintf("t-%d-%d", i, j), metadata.PartitionSpec{Replicas: []int32{1}, Leader: 1}))
				}
				if err != nil {
					t.Errorf("writer %d: %v", i, err)
					return
				}
			}
		}()
	}
	// The partition is altered by CAS from every node; losers retry.
	for range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < 10; {
				st, err := s.Snapshot(ctx)
				if err != nil {
					t.Errorf("snapshot: %v", err)
					return
				}
				p := st.Topics["t"].Partitions[0]
				leader := int32(1 + (p.PartitionEpoch+1)%2)
				_, err = s.AlterPartition(ctx, metadata.PartitionChange{Topic: "t", ExpectedPartitionEpoch: p.PartitionEpoch,
					Leader: leader, ISR: []int32{1, 2}})
				switch {
				case err == nil:
					done++
				case !isStale(err):
					t.Errorf("alter: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	final, err := s.Snapshot(ctx)
	mustOK(t, err)
	if p := final.Topics["t"].Partitions[0]; p.PartitionEpoch != 30 || p.LeaderEpoch != 30 {
		t.Fatalf("partition after 30 CAS changes: %+v", p)
	}
	for i, f := range fs {
		for f.st.Revision < final.Revision {
			b := nextBatch(t, f.ch)
			if b.Revision != f.st.Revision+1 {
				t.Fatalf("node %d: batch %d after %d", i, b.Revision, f.st.Revision)
			}
			mustOK(t, f.st.Apply(b))
		}
		if !statesEqual(f.st, final) {
			t.Fatalf("node %d: followed state differs from the snapshot", i)
		}
	}
}

func isStale(err error) bool { return err != nil && errorsIs(err, metadata.ErrStaleEpoch) }

func statesEqual(a, b metadata.State) bool {
	if a.Revision != b.Revision || a.NextProducerID != b.NextProducerID || len(a.Brokers) != len(b.Brokers) || len(a.Topics) != len(b.Topics) {
		return false
	}
	for id, x := range a.Brokers {
		y, ok := b.Brokers[id]
		if !ok || x.Epoch != y.Epoch || x.Fenced != y.Fenced || x.IncarnationID != y.IncarnationID {
			return false
		}
	}
	for n, x := range a.Topics {
		if !topicsEqual(x, b.Topics[n]) {
			return false
		}
	}
	return true
}

func TestWatchFromZeroAndFuture(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	from0, err := s.Watch(ctx, 0)
	mustOK(t, err)
	future, err := s.Watch(ctx, 3) // waits for revision 4
	mustOK(t, err)
	for range 5 {
		_, err := s.AllocateProducerIDs(ctx, 1)
		mustOK(t, err)
	}
	for want := metadata.Revision(1); want <= 5; want++ {
		if b := nextBatch(t, from0); b.Revision != want {
			t.Fatalf("from 0: revision %d, want %d", b.Revision, want)
		}
	}
	for want := metadata.Revision(4); want <= 5; want++ {
		if b := nextBatch(t, future); b.Revision != want {
			t.Fatalf("future: revision %d, want %d", b.Revision, want)
		}
	}
	_, err = s.Watch(ctx, -1)
	mustErr(t, err, metadata.ErrInvalid)
}

func TestWatchContextEndsStream(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	for _, pending := range []bool{false, true} {
		wctx, cancel := context.WithCancel(ctx)
		ch, err := s.Watch(wctx, revision(t, s))
		mustOK(t, err)
		if pending {
			_, err := s.AllocateProducerIDs(ctx, 1)
			mustOK(t, err)
			eventually(t, "batch buffered", func() bool { return len(ch) == 1 })
		}
		cancel()
		closesClean(t, ch)
	}
}

func TestHistoryLimit(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{HistoryLimit: 3})
	for range 5 {
		_, err := s.AllocateProducerIDs(ctx, 1)
		mustOK(t, err)
	}
	for _, from := range []metadata.Revision{0, 1} {
		_, err := s.Watch(ctx, from)
		mustErr(t, err, metadata.ErrCompacted)
	}
	ch, err := s.Watch(ctx, 2) // 3, 4, 5 are kept
	mustOK(t, err)
	for want := metadata.Revision(3); want <= 5; want++ {
		if b := nextBatch(t, ch); b.Revision != want {
			t.Fatalf("revision %d, want %d", b.Revision, want)
		}
	}
}

// TestSlowWatcher checks that a watcher that does not read never blocks
// writers or other watchers, and that one that falls behind the history
// ends with ErrCompacted.
func TestSlowWatcher(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{HistoryLimit: 8})
	slow, err := s.Watch(ctx, 0)
	mustOK(t, err)
	fast, err := s.Watch(ctx, 0)
	mustOK(t, err)
	for i := range 20 {
		_, err := s.AllocateProducerIDs(ctx, 1)
		mustOK(t, err)
		if b := nextBatch(t, fast); b.Revision != metadata.Revision(i+1) {
			t.Fatalf("fast watcher: revision %d, want %d", b.Revision, i+1)
		}
	}
	// The slow one got revision 1 into its buffer, then fell out of the
	// history (which now starts after 12).
	if b := nextBatch(t, slow); b.Revision != 1 {
		t.Fatalf("slow watcher: revision %d", b.Revision)
	}
	endsWith(t, slow, metadata.ErrCompacted)
}

func TestCompact(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	behind, err := s.Watch(ctx, 0)
	mustOK(t, err)
	for range 5 {
		_, err := s.AllocateProducerIDs(ctx, 1)
		mustOK(t, err)
	}
	eventually(t, "batch buffered", func() bool { return len(behind) == 1 })
	mustErr(t, s.Compact(ctx, 6), metadata.ErrInvalid)
	mustOK(t, s.Compact(ctx, 3))
	mustOK(t, s.Compact(ctx, 2)) // already compacted: no-op
	for _, from := range []metadata.Revision{0, 1, 2} {
		_, err := s.Watch(ctx, from)
		mustErr(t, err, metadata.ErrCompacted)
	}
	ch, err := s.Watch(ctx, 3)
	mustOK(t, err)
	for want := metadata.Revision(4); want <= 5; want++ {
		if b := nextBatch(t, ch); b.Revision != want {
			t.Fatalf("revision %d, want %d", b.Revision, want)
		}
	}
	if b := nextBatch(t, behind); b.Revision != 1 {
		t.Fatalf("behind: revision %d", b.Revision)
	}
	endsWith(t, behind, metadata.ErrCompacted)
	mustOK(t, s.Compact(ctx, 5)) // everything
	ch, err = s.Watch(ctx, 5)
	mustOK(t, err)
	_, err = s.AllocateProducerIDs(ctx, 1)
	mustOK(t, err)
	if b := nextBatch(t, ch); b.Revision != 6 {
		t.Fatalf("revision %d, want 6", b.Revision)
	}
}

func TestInitialRevision(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{InitialRevision: 1000})
	if r := revision(t, s); r != 1000 {
		t.Fatalf("revision %d", r)
	}
	from0, err := s.Watch(ctx, 0) // nothing discarded yet: the whole history
	mustOK(t, err)
	_, err = s.Watch(ctx, 999) // a resume point of an earlier store
	mustErr(t, err, metadata.ErrCompacted)
	b, err := s.RegisterBroker(ctx, reg(1, "a"))
	mustOK(t, err)
	if b.Epoch != 1001 {
		t.Fatalf("epoch %d", b.Epoch)
	}
	if got := nextBatch(t, from0); got.Revision != 1001 {
		t.Fatalf("revision %d", got.Revision)
	}
}

// TestWatchBatchesAreCopies checks that a receiver modifying a batch does
// not change what other watchers receive.
func TestWatchBatchesAreCopies(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	a, err := s.Watch(ctx, 0)
	mustOK(t, err)
	_, err = s.CreateTopic(ctx, spec("t", metadata.PartitionSpec{Replicas: []int32{1, 2}, Leader: 1}))
	mustOK(t, err)
	ba := nextBatch(t, a)
	ba.Events[0].Topic.Partitions[0].Replicas[0] = 9
	b, err := s.Watch(ctx, 0)
	mustOK(t, err)
	bb := nextBatch(t, b)
	if got := bb.Events[0].Topic.Partitions[0].Replicas[0]; got != 1 {
		t.Fatalf("second watcher got replica %d", got)
	}
}
