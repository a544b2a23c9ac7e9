package partition

import (
	"bytes"
	"errors"
	"testing"
)

// followerPair starts brokers 1 and 2 over one store with an RF=2 topic led
// by broker 1, and returns the leader's and the follower's replica.
func followerPair(t *testing.T) (leader, follower *Partition) {
	t.Helper()
	s := newStore(t)
	e1 := newEnvOn(t, s, 1, t.TempDir(), nil)
	e2 := newEnvOn(t, s, 2, t.TempDir(), nil)
	e1.waitBroker(2)
	if _, err := e1.cl.CreateTopic(testCtx(t), "f", -1, -1, map[int32][]int32{0: {1, 2}}, nil); err != nil {
		t.Fatal(err)
	}
	e1.sync()
	eventually(t, "broker 2 sees the topic", func() bool { _, ok := e2.cl.Image().Topic("f"); return ok })
	e2.sync()
	leader = e1.leader("f", 0)
	follower, ok := e2.m.Partition("f", 0)
	if !ok {
		t.Fatal("broker 2 does not host f-0")
	}
	return leader, follower
}

// replicate fetches from the leader as broker 2 from the follower's log end
// and appends the answer to the follower.
func replicate(t *testing.T, leader, follower *Partition) FollowerAppend {
	t.Helper()
	st, ok := follower.FollowerState()
	if !ok {
		t.Fatal("not a follower")
	}
	res, err := leader.Fetch(nil, FetchParams{Offset: st.LogEndOffset, MaxBytes: 1 << 20, MinOneMessage: true,
		CurrentLeaderEpoch: st.LeaderEpoch, LastFetchedEpoch: NoEpoch, ReplicaID: 2})
	if err != nil {
		t.Fatalf("replica fetch: %v", err)
	}
	fa, err := follower.AppendAsFollower(st.LeaderEpoch, res.Records, res.HighWatermark, res.LogStartOffset)
	if err != nil {
		t.Fatalf("AppendAsFollower: %v", err)
	}
	return fa
}

func TestAppendAsFollower(t *testing.T) {
	leader, follower := followerPair(t)
	st, ok := follower.FollowerState()
	if !ok || st.LeaderID != 1 || st.LogEndOffset != 0 || st.LastFetchedEpoch != NoEpoch {
		t.Fatalf("FollowerState = %+v, %v", st, ok)
	}
	if _, ok := leader.FollowerState(); ok {
		t.Fatal("the leader reports a follower state")
	}
	mustAppend(t, leader, makeBatch(idem(7, 0, 0, 3)))
	mustAppend(t, leader, makeBatch(plain(2)))
	mustAppend(t, leader, makeBatch(idem(7, 0, 3, 1)))
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("leader high watermark %d before the follower fetched, want 0", hw)
	}

	fa := replicate(t, leader, follower)
	if fa.Batches != 3 || fa.LogEndOffset != 6 {
		t.Fatalf("first replication: %+v, want 3 batches up to 6", fa)
	}
	// The follower's fetch from 6 tells the leader it has everything.
	fa = replicate(t, leader, follower)
	if fa.Batches != 0 || leader.HighWatermark() != 6 || follower.HighWatermark() != 6 {
		t.Fatalf("second fetch: %+v, leader hw %d, follower hw %d; want both 6", fa, leader.HighWatermark(), follower.HighWatermark())
	}
	want, _ := leader.ReadLog(nil, 0, 1<<20)
	got, _ := follower.ReadLog(nil, 0, 1<<20)
	if !bytes.Equal(got, want) {
		t.Fatalf("follower log differs from the leader's (%d vs %d bytes)", len(got), len(want))
	}
	if follower.NumProducers() != 1 {
		t.Fatalf("follower keeps %d producers, want 1", follower.NumProducers())
	}
	if e, ok := follower.log.LatestEpoch(); !ok || e != leader.State().LeaderEpoch {
		t.Fatalf("follower's latest epoch %d %v, want the leader's %d", e, ok, leader.State().LeaderEpoch)
	}

	// Overlap (a retried fetch) is skipped, a partial trailing batch is
	// dropped, a stale epoch or a leader refuses.
	fa, err := follower.AppendAsFollower(st.LeaderEpoch, want, 6, 0)
	if err != nil || fa.Batches != 0 || fa.LogEndOffset != 6 {
		t.Fatalf("overlapping append: %+v, %v", fa, err)
	}
	mustAppend(t, leader, makeBatch(plain(1)))
	res, err := leader.Fetch(nil, FetchParams{Offset: 6, MaxBytes: 1 << 20, MinOneMessage: true, CurrentLeaderEpoch: NoEpoch, LastFetchedEpoch: NoEpoch, ReplicaID: 2})
	if err != nil {
		t.Fatal(err)
	}
	if fa, err := follower.AppendAsFollower(st.LeaderEpoch, res.Records[:len(res.Records)-1], res.HighWatermark, 0); err != nil || fa.Batches != 0 {
		t.Fatalf("partial batch: %+v, %v; want nothing appended", fa, err)
	}
	if _, err := follower.AppendAsFollower(st.LeaderEpoch+1, res.Records, res.HighWatermark, 0); !errors.Is(err, ErrNotFollower) {
		t.Fatalf("append at another epoch: %v, want ErrNotFollower", err)
	}
	if _, err := leader.AppendAsFollower(st.LeaderEpoch, res.Records, res.HighWatermark, 0); !errors.Is(err, ErrNotFollower) {
		t.Fatalf("append on the leader: %v, want ErrNotFollower", err)
	}
	if fa, err := follower.AppendAsFollower(st.LeaderEpoch, res.Records, 0, 0); err != nil || fa.LogEndOffset != 7 || fa.HighWatermark != 6 {
		t.Fatalf("append with an older leader high watermark: %+v, %v; want end 7, high watermark kept at 6", fa, err)
	}
}

func TestTruncateAsFollower(t *testing.T) {
	leader, follower := followerPair(t)
	mustAppend(t, leader, makeBatch(plain(2)))
	mustAppend(t, leader, makeBatch(idem(9, 0, 0, 2)))
	replicate(t, leader, follower)
	replicate(t, leader, follower)
	if follower.HighWatermark() != 4 || follower.NumProducers() != 1 {
		t.Fatalf("follower hw %d, %d producers; want 4 and 1", follower.HighWatermark(), follower.NumProducers())
	}
	epoch := follower.State().LeaderEpoch
	if err := leader.TruncateAsFollower(epoch, 0); !errors.Is(err, ErrNotFollower) {
		t.Fatalf("truncating the leader: %v, want ErrNotFollower", err)
	}
	// Offset 3 is inside the producer's batch [2, 3]: the whole batch goes.
	if err := follower.TruncateAsFollower(epoch, 3); err != nil {
		t.Fatal(err)
	}
	if follower.LogEndOffset() != 2 || follower.HighWatermark() != 2 || follower.NumProducers() != 0 {
		t.Fatalf("after truncation: end %d, hw %d, %d producers; want 2, 2, 0", follower.LogEndOffset(), follower.HighWatermark(), follower.NumProducers())
	}
	if e, end := follower.EndOffsetForEpochLocal(epoch); e != epoch || end != 2 {
		t.Fatalf("EndOffsetForEpochLocal(%d) = %d, %d; want %d, 2", epoch, e, end, epoch)
	}
	// Fetching again restores the leader's log byte for byte.
	replicate(t, leader, follower)
	want, _ := leader.ReadLog(nil, 0, 1<<20)
	got, _ := follower.ReadLog(nil, 0, 1<<20)
	if !bytes.Equal(got, want) || follower.NumProducers() != 1 {
		t.Fatalf("after re-fetching: logs equal %v, %d producers", bytes.Equal(got, want), follower.NumProducers())
	}
	// The follower's log start follows the leader's (DeleteRecords), up to
	// its high watermark.
	if _, err := leader.DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	replicate(t, leader, follower)
	if follower.LogStartOffset() != 2 || follower.NumProducers() != 1 {
		t.Fatalf("after the leader's DeleteRecords: follower log start %d, %d producers; want 2, 1", follower.LogStartOffset(), follower.NumProducers())
	}
	// Reset restarts the log at the leader's log start.
	if err := follower.ResetAsFollower(epoch, 10); err != nil {
		t.Fatal(err)
	}
	if follower.LogStartOffset() != 10 || follower.LogEndOffset() != 10 || follower.HighWatermark() != 10 || follower.NumProducers() != 0 {
		t.Fatalf("after reset: start %d end %d hw %d producers %d; want 10 10 10 0", follower.LogStartOffset(), follower.LogEndOffset(), follower.HighWatermark(), follower.NumProducers())
	}
}
