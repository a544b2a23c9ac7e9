package plugins

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestClientEveryRPC(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	ctx := testCtx(t)

	info, err := c.Info(ctx)
	if err != nil || !reflect.DeepEqual(info, fb.info) {
		t.Fatalf("Info = %+v, %v; want %+v", info, err, fb.info)
	}

	reg := metadata.BrokerRegistration{ID: 1, IncarnationID: "inc-1", Rack: "r1",
		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}}}
	br, err := c.RegisterBroker(ctx, reg)
	want := metadata.Broker{ID: 1, IncarnationID: "inc-1", Listeners: reg.Listeners, Rack: "r1", Epoch: 1}
	if err != nil || !reflect.DeepEqual(br, want) {
		t.Fatalf("RegisterBroker = %+v, %v; want %+v", br, err, want)
	}
	if _, err := c.RegisterBroker(ctx, metadata.BrokerRegistration{ID: 1, IncarnationID: "other"}); !errors.Is(err, metadata.ErrDuplicateBroker) {
		t.Fatalf("RegisterBroker other incarnation: %v, want ErrDuplicateBroker", err)
	}

	hb, err := c.Heartbeat(ctx, 1, br.Epoch)
	if err != nil || hb != (metadata.HeartbeatResult{Epoch: 1, SessionTimeout: 1234 * time.Millisecond}) {
		t.Fatalf("Heartbeat = %+v, %v", hb, err)
	}
	if _, err := c.Heartbeat(ctx, 1, 99); !errors.Is(err, metadata.ErrStaleEpoch) {
		t.Fatalf("Heartbeat stale: %v", err)
	}
	if _, err := c.Heartbeat(ctx, 7, 1); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("Heartbeat unknown broker: %v", err)
	}

	spec := metadata.TopicSpec{Name: "t", ID: metadata.TopicID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Configs:    map[string]string{"cleanup.policy": "compact"},
		Partitions: []metadata.PartitionSpec{{Replicas: []int32{1}, Leader: 1}, {Replicas: []int32{1}, Leader: metadata.NoLeader, ISR: []int32{1}}}}
	topic, err := c.CreateTopic(ctx, spec)
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	wantTopic := metadata.Topic{Name: "t", ID: spec.ID, Configs: spec.Configs, CreatedAt: 2, Partitions: []metadata.Partition{
		{Topic: "t", Partition: 0, Replicas: []int32{1}, Leader: 1, ISR: []int32{1}},
		{Topic: "t", Partition: 1, Replicas: []int32{1}, Leader: metadata.NoLeader, ISR: []int32{1}}}}
	if !reflect.DeepEqual(topic, wantTopic) {
		t.Fatalf("CreateTopic = %+v, want %+v", topic, wantTopic)
	}
	if _, err := c.CreateTopic(ctx, spec); !errors.Is(err, metadata.ErrTopicExists) {
		t.Fatalf("CreateTopic again: %v", err)
	}

	p, err := c.AlterPartition(ctx, metadata.PartitionChange{Topic: "t", Partition: 1, ExpectedPartitionEpoch: 0, Leader: 1, ISR: []int32{1}})
	wantP := metadata.Partition{Topic: "t", Partition: 1, Replicas: []int32{1}, Leader: 1, LeaderEpoch: 1, ISR: []int32{1}, PartitionEpoch: 1}
	if err != nil || !reflect.DeepEqual(p, wantP) {
		t.Fatalf("AlterPartition = %+v, %v; want %+v", p, err, wantP)
	}
	if _, err := c.AlterPartition(ctx, metadata.PartitionChange{Topic: "t", Partition: 1, ExpectedPartitionEpoch: 0, Leader: 1}); !errors.Is(err, metadata.ErrStaleEpoch) {
		t.Fatalf("AlterPartition stale: %v", err)
	}

	first, err := c.AllocateProducerIDs(ctx, 10)
	if err != nil || first != 0 {
		t.Fatalf("AllocateProducerIDs = %d, %v", first, err)
	}
	first, err = c.AllocateProducerIDs(ctx, 5)
	if err != nil || first != 10 {
		t.Fatalf("AllocateProducerIDs = %d, %v", first, err)
	}

	st, err := c.Snapshot(ctx)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	local, _ := fb.Snapshot(ctx)
	if !reflect.DeepEqual(st, local) {
		t.Fatalf("Snapshot over gRPC = %+v\nin process = %+v", st, local)
	}

	if err := c.DeleteTopic(ctx, "t"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if err := c.DeleteTopic(ctx, "t"); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("DeleteTopic again: %v", err)
	}
	if err := c.UnregisterBroker(ctx, 1, br.Epoch); err != nil {
		t.Fatalf("UnregisterBroker: %v", err)
	}
	if err := c.Compact(ctx, 3); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if _, err := c.Watch(ctx, 1); !errors.Is(err, metadata.ErrCompacted) {
		t.Fatalf("Watch from compacted revision: %v", err)
	}
	if err := c.Configure(ctx, metadata.Config{NodeID: "n1"}); !errors.Is(err, metadata.ErrInvalid) {
		t.Fatalf("Configure of a RegisterBackend server: %v, want ErrInvalid", err)
	}

	n2 := metadata.Member{ID: "n2", Address: "127.0.0.1:2", Voter: true}
	if err := c.AddMember(ctx, n2); err != nil {
		t.Fatalf("AddMember: %v", err)
	}
	if info, err := c.Info(ctx); err != nil || len(info.Members) != 2 || info.Members[1] != n2 {
		t.Fatalf("Info after AddMember = %+v, %v", info, err)
	}
	if err := c.RemoveMember(ctx, "n1"); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	if info, err := c.Info(ctx); err != nil || len(info.Members) != 1 || info.Members[0] != n2 {
		t.Fatalf("Info after RemoveMember = %+v, %v", info, err)
	}
}

// TestDeadlineCrosses: the server-side call sees the client's deadline.
func TestDeadlineCrosses(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	deadline := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	seen := make(chan time.Time, 1)
	fb.setHook(func(ctx context.Context, _ string) error {
		d, ok := ctx.Deadline()
		if !ok {
			return errors.New("no deadline")
		}
		seen <- d
		return nil
	})
	if _, err := c.Snapshot(ctx); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	got := <-seen
	// gRPC sends the remaining time, so allow for the transit.
	if diff := deadline.Sub(got); diff < -time.Second || diff > time.Second {
		t.Fatalf("server saw deadline %v, client set %v", got, deadline)
	}
}

// TestCancelCrosses: cancelling the client's ctx ends the server-side call,
// and the client gets an error matching its ctx's error.
func TestCancelCrosses(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	entered := make(chan struct{})
	ended := make(chan error, 1)
	fb.setHook(func(ctx context.Context, _ string) error {
		close(entered)
		select {
		case <-ctx.Done():
			ended <- ctx.Err()
			return ctx.Err()
		case <-time.After(10 * time.Second):
			ended <- nil
			return errors.New("server-side call was not cancelled")
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.CreateTopic(ctx, metadata.TopicSpec{Name: "t"})
		errc <- err
	}()
	<-entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateTopic after cancel: %v, want context.Canceled", err)
	}
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("server-side ctx ended with %v, want context.Canceled", err)
	}
}

// TestClientDeadlineExceeded: a call that outlives its deadline returns an
// error matching ErrUnavailable (the server's answer here, which may come
// a moment before the client's own timer fires) and, once the deadline has
// passed, context.DeadlineExceeded.
func TestClientDeadlineExceeded(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	fb.setHook(func(ctx context.Context, _ string) error {
		<-ctx.Done()
		return fmt.Errorf("fake: no quorum: %w", metadata.ErrUnavailable)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Heartbeat(ctx, 1, 1)
	if !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("Heartbeat: %v, want ErrUnavailable", err)
	}
	if dl, _ := ctx.Deadline(); !time.Now().Before(dl) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Heartbeat returned after its deadline with %v, want DeadlineExceeded too", err)
	}
}

func TestClosedClientFails(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Snapshot(ctx); !errors.Is(err, ErrClientClosed) || !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("Snapshot after Close: %v", err)
	}
	if _, err := c.Watch(ctx, 0); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("Watch after Close: %v", err)
	}
	// The backend itself is not closed.
	if _, err := fb.Snapshot(ctx); err != nil {
		t.Fatalf("backend after Client.Close: %v", err)
	}
}

// recv receives one batch or fails the test after a deadline.
func recv(t *testing.T, ch <-chan metadata.WatchBatch) (metadata.WatchBatch, bool) {
	t.Helper()
	select {
	case b, ok := <-ch:
		return b, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no watch batch within 10s")
		return metadata.WatchBatch{}, false
	}
}

// waitClosed drains ch until it closes and returns what it drained.
func waitClosed(t *testing.T, ch <-chan metadata.WatchBatch) []metadata.WatchBatch {
	t.Helper()
	var got []metadata.WatchBatch
	for {
		b, ok := recv(t, ch)
		if !ok {
			return got
		}
		got = append(got, b)
	}
}

// waitWatchers waits until every watch of fb ended on the server side.
func waitWatchers(t *testing.T, fb *fakeBackend) {
	t.Helper()
	done := make(chan struct{})
	go func() { fb.watchers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend's watch did not end within 10s")
	}
}

func TestWatchDeliversInOrder(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	// History before the watches: revisions 1..3.
	for i := range int32(3) {
		if _, err := fb.RegisterBroker(ctx, metadata.BrokerRegistration{ID: i, IncarnationID: "i"}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fromOne, err := c.Watch(wctx, 1)
	if err != nil {
		t.Fatalf("Watch(1): %v", err)
	}
	fromZero, err := c.Watch(wctx, 0)
	if err != nil {
		t.Fatalf("Watch(0): %v", err)
	}
	// Live changes while watching: revisions 4 and 5.
	if _, err := c.CreateTopic(ctx, metadata.TopicSpec{Name: "t", ID: testTopicID,
		Partitions: []metadata.PartitionSpec{{Replicas: []int32{0, 1}, Leader: 0}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AllocateProducerIDs(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// From 0: every batch, and the state built from them is the backend's.
	mirror := metadata.NewState()
	for want := metadata.Revision(1); want <= 5; want++ {
		b, ok := recv(t, fromZero)
		if !ok || b.Err != nil || b.Revision != want {
			t.Fatalf("Watch(0) batch %d: %+v (open %v)", want, b, ok)
		}
		if err := mirror.Apply(b); err != nil {
			t.Fatal(err)
		}
	}
	local, _ := fb.Snapshot(ctx)
	if !reflect.DeepEqual(mirror, local) {
		t.Fatalf("state built from the watch = %#v\nbackend state = %#v", mirror, local)
	}
	// From 1: revisions 2..5, each exactly the backend's batch.
	for want := metadata.Revision(2); want <= 5; want++ {
		b, ok := recv(t, fromOne)
		if !ok || b.Err != nil || b.Revision != want {
			t.Fatalf("Watch(1) batch %d: %+v (open %v)", want, b, ok)
		}
		if !reflect.DeepEqual(b, fb.history[want-1]) {
			t.Fatalf("batch %d = %#v, want %#v", want, b, fb.history[want-1])
		}
	}
	// ctx end: both channels close without an Err batch, and the
	// server-side watches end.
	cancel()
	if got := waitClosed(t, fromOne); len(got) != 0 {
		t.Fatalf("after cancel got %+v, want a plain close", got)
	}
	if got := waitClosed(t, fromZero); len(got) != 0 {
		t.Fatalf("after cancel got %+v, want a plain close", got)
	}
	waitWatchers(t, fb)
}

// TestWatchSlowConsumerLosesNothing: many batches committed while nobody
// reads all arrive, in order.
func TestWatchSlowConsumerLosesNothing(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	ch, err := c.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for range n {
		if _, err := fb.AllocateProducerIDs(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	for want := metadata.Revision(1); want <= n; want++ {
		b, ok := recv(t, ch)
		if !ok || b.Err != nil || b.Revision != want || b.Events[0].NextProducerID != int64(want) {
			t.Fatalf("batch %d: %+v (open %v)", want, b, ok)
		}
	}
}

// TestWatchErrBatch: a stream the backend ends with an error delivers one
// last batch carrying that error as its sentinel, then closes.
func TestWatchErrBatch(t *testing.T) {
	for _, sentinel := range []error{metadata.ErrCompacted, metadata.ErrUnavailable} {
		t.Run(sentinel.Error(), func(t *testing.T) {
			fb := newFakeBackend()
			c := newTestClient(t, fb)
			ctx := testCtx(t)
			if _, err := fb.AllocateProducerIDs(ctx, 1); err != nil {
				t.Fatal(err)
			}
			ch, err := c.Watch(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if b, ok := recv(t, ch); !ok || b.Revision != 1 {
				t.Fatalf("first batch %+v (open %v)", b, ok)
			}
			serverErr := fmt.Errorf("fake: watch lost: %w", sentinel)
			fb.failWatches(serverErr)
			got := waitClosed(t, ch)
			if len(got) != 1 || !errors.Is(got[0].Err, sentinel) || got[0].Err.Error() != serverErr.Error() {
				t.Fatalf("after failure got %+v, want one Err batch %q", got, serverErr)
			}
			waitWatchers(t, fb)
		})
	}
}

// TestWatchStartErrors: failures to start come back from Watch itself.
func TestWatchStartErrors(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	for range 3 {
		if _, err := fb.AllocateProducerIDs(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := fb.Compact(ctx, 2); err != nil {
		t.Fatal(err)
	}
	ch, err := c.Watch(ctx, 1)
	if !errors.Is(err, metadata.ErrCompacted) || ch != nil {
		t.Fatalf("Watch(1) after compaction to 2: %v, %v; want ErrCompacted and no channel", ch, err)
	}
	// From the compaction point on, it works.
	ch, err = c.Watch(ctx, 2)
	if err != nil {
		t.Fatalf("Watch(2): %v", err)
	}
	if b, ok := recv(t, ch); !ok || b.Revision != 3 {
		t.Fatalf("Watch(2) first batch %+v (open %v)", b, ok)
	}
	// An already-ended ctx fails the start with its error.
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Watch(dead, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch with a cancelled ctx: %v", err)
	}
}

// TestWatchClientClose: Close ends open streams with ErrClientClosed (a
// consumer that keeps reading sees it), ends them on the server too, and
// leaves the backend alone.
func TestWatchClientClose(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	ch, err := c.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fb.AllocateProducerIDs(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if b, ok := recv(t, ch); !ok || b.Revision != 1 {
		t.Fatalf("first batch %+v (open %v)", b, ok)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := waitClosed(t, ch)
	if len(got) != 1 || !errors.Is(got[0].Err, ErrClientClosed) || !errors.Is(got[0].Err, metadata.ErrUnavailable) {
		t.Fatalf("after Close got %+v, want one ErrClientClosed batch", got)
	}
	waitWatchers(t, fb)
}

// TestWatchTransportFailure: the server going away mid-stream gives an Err
// batch matching ErrUnavailable.
func TestWatchTransportFailure(t *testing.T) {
	fb := newFakeBackend()
	ts := startTestServer(t, func(s *grpc.Server) { RegisterBackend(s, fb) })
	c := NewClient(ts.cc)
	t.Cleanup(func() { c.Close() })
	ctx := testCtx(t)
	ch, err := c.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	ts.stop()
	got := waitClosed(t, ch)
	if len(got) != 1 || !errors.Is(got[0].Err, metadata.ErrUnavailable) {
		t.Fatalf("after the server stopped got %+v, want one ErrUnavailable batch", got)
	}
	if _, err := c.Snapshot(ctx); !errors.Is(err, metadata.ErrUnavailable) {
		t.Fatalf("Snapshot after the server stopped: %v", err)
	}
	waitWatchers(t, fb)
}
