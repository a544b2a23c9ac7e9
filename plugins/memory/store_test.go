package memory

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"default", DefaultConfig(), true},
		{"negative timeout", Config{SessionTimeout: -1}, false},
		{"negative history", Config{HistoryLimit: -1}, false},
		{"negative initial revision", Config{InitialRevision: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok != (err == nil) {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				mustErr(t, err, metadata.ErrInvalid)
				if _, err := NewStore(tc.cfg); !errors.Is(err, metadata.ErrInvalid) {
					t.Fatalf("NewStore = %v, want ErrInvalid", err)
				}
			}
		})
	}
}

func TestRevisionPerCommittedChange(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	if r := revision(t, s); r != 0 {
		t.Fatalf("fresh store at revision %d", r)
	}
	b, err := s.RegisterBroker(ctx, reg(1, "a"))
	mustOK(t, err)
	if b.Epoch != 1 {
		t.Fatalf("epoch = %d, want the registration's revision 1", b.Epoch)
	}
	steps := []struct {
		name    string
		do      func() error
		commits bool
	}{
		{"heartbeat", func() error { _, err := s.Heartbeat(ctx, 1, b.Epoch); return err }, false},
		{"idempotent register", func() error { _, err := s.RegisterBroker(ctx, reg(1, "a")); return err }, false},
		{"create topic", func() error {
			_, err := s.CreateTopic(ctx, spec("t", metadata.PartitionSpec{Replicas: []int32{1}, Leader: 1}))
			return err
		}, true},
		{"failed create", func() error {
			_, err := s.CreateTopic(ctx, spec("t", metadata.PartitionSpec{Replicas: []int32{1}, Leader: 1}))
			return err
		}, false},
		{"alter", func() error {
			_, err := s.AlterPartition(ctx, metadata.PartitionChange{Topic: "t", Leader: metadata.NoLeader, ISR: []int32{1}})
			return err
		}, true},
		{"stale alter", func() error {
			_, err := s.AlterPartition(ctx, metadata.PartitionChange{Topic: "t", Leader: 1, ISR: []int32{1}})
			return err
		}, false},
		{"producer ids", func() error { _, err := s.AllocateProducerIDs(ctx, 10); return err }, true},
		{"delete", func() error { return s.DeleteTopic(ctx, "t") }, true},
		{"unregister", func() error { return s.UnregisterBroker(ctx, 1, b.Epoch) }, true},
		{"unregister unknown", func() error { return s.UnregisterBroker(ctx, 1, b.Epoch) }, false},
		{"snapshot", func() error { _, err := s.Snapshot(ctx); return err }, false},
		{"info", func() error { _, err := s.Info(ctx); return err }, false},
	}
	for _, st := range steps {
		before := revision(t, s)
		err := st.do()
		after := revision(t, s)
		want := before
		if st.commits {
			want++
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		if after != want {
			t.Fatalf("%s: revision %d -> %d, want %d (err %v)", st.name, before, after, want, err)
		}
	}
}

func TestSnapshotIsDeepCopy(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	_, err := s.RegisterBroker(ctx, reg(1, "a"))
	mustOK(t, err)
	sp := spec("t", metadata.PartitionSpec{Replicas: []int32{1, 2}, Leader: 1})
	sp.Configs = map[string]string{"k": "v"}
	tp, err := s.CreateTopic(ctx, sp)
	mustOK(t, err)
	// Mutating the spec, the returned topic and a snapshot changes nothing.
	sp.Partitions[0].Replicas[0] = 9
	sp.Configs["k"] = "x"
	tp.Partitions[0].ISR[0] = 9
	st, err := s.Snapshot(ctx)
	mustOK(t, err)
	st.Topics["t"].Partitions[0].Replicas[1] = 9
	st.Topics["t"].Configs["k"] = "y"
	st.Brokers[1].Listeners[0].Port = 1
	delete(st.Topics, "t")

	st2, err := s.Snapshot(ctx)
	mustOK(t, err)
	p := st2.Topics["t"].Partitions[0]
	if !slices.Equal(p.Replicas, []int32{1, 2}) || !slices.Equal(p.ISR, []int32{1, 2}) || st2.Topics["t"].Configs["k"] != "v" {
		t.Fatalf("stored topic changed through a copy: %+v", st2.Topics["t"])
	}
	if st2.Brokers[1].Listeners[0].Port != 9093 {
		t.Fatalf("stored broker changed through a copy: %+v", st2.Brokers[1])
	}
}

func TestRegisterBroker(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{SessionTimeout: time.Minute})

	for _, tc := range []struct {
		name string
		reg  metadata.BrokerRegistration
	}{
		{"negative id", reg(-1, "a")},
		{"empty incarnation", reg(1, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.RegisterBroker(ctx, tc.reg)
			mustErr(t, err, metadata.ErrInvalid)
		})
	}

	b1, err := s.RegisterBroker(ctx, reg(1, "a"))
	mustOK(t, err)
	if b1.ID != 1 || b1.IncarnationID != "a" || b1.Rack != "r1" || b1.Fenced || len(b1.Listeners) != 1 ||
		b1.Epoch != int64(revision(t, s)) {
		t.Fatalf("registered broker %+v at revision %d", b1, revision(t, s))
	}

	t.Run("same incarnation is idempotent", func(t *testing.T) {
		again, err := s.RegisterBroker(ctx, reg(1, "a"))
		mustOK(t, err)
		if again.Epoch != b1.Epoch {
			t.Fatalf("epoch %d, want %d", again.Epoch, b1.Epoch)
		}
	})
	t.Run("other incarnation while alive", func(t *testing.T) {
		_, err := s.RegisterBroker(ctx, reg(1, "b"))
		mustErr(t, err, metadata.ErrDuplicateBroker)
	})
	t.Run("epochs strictly increase", func(t *testing.T) {
		b2, err := s.RegisterBroker(ctx, reg(2, "c"))
		mustOK(t, err)
		if b2.Epoch <= b1.Epoch {
			t.Fatalf("epoch %d not after %d", b2.Epoch, b1.Epoch)
		}
	})
	t.Run("after unregister a new higher epoch", func(t *testing.T) {
		mustOK(t, s.UnregisterBroker(ctx, 1, b1.Epoch))
		b, err := s.RegisterBroker(ctx, reg(1, "b"))
		mustOK(t, err)
		if b.Epoch <= b1.Epoch {
			t.Fatalf("epoch %d not after %d", b.Epoch, b1.Epoch)
		}
		b1 = b
	})
}

func TestReregisterAfterFence(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{SessionTimeout: 50 * time.Millisecond})
	for _, inc := range []string{"same", "other"} {
		t.Run(inc+" incarnation", func(t *testing.T) {
			b, err := s.RegisterBroker(ctx, reg(1, "same"))
			mustOK(t, err)
			waitFenced(t, s, 1, b.Epoch)
			nb, err := s.RegisterBroker(ctx, reg(1, inc))
			mustOK(t, err)
			if nb.Epoch <= b.Epoch || nb.Fenced || nb.IncarnationID != inc {
				t.Fatalf("re-registration %+v after fenced epoch %d", nb, b.Epoch)
			}
			waitFenced(t, s, 1, nb.Epoch)
		})
	}
}

func waitFenced(t *testing.T, s *Store, id int32, epoch int64) {
	t.Helper()
	eventually(t, "broker fenced", func() bool {
		st, err := s.Snapshot(testCtx(t))
		mustOK(t, err)
		b := st.Brokers[id]
		return b.Fenced && b.Epoch == epoch
	})
}

func TestHeartbeat(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{SessionTimeout: 300 * time.Millisecond})
	b, err := s.RegisterBroker(ctx, reg(1, "a"))
	mustOK(t, err)

	hr, err := s.Heartbeat(ctx, 1, b.Epoch)
	mustOK(t, err)
	if hr.Epoch != b.Epoch || hr.SessionTimeout != 300*time.Millisecond {
		t.Fatalf("heartbeat result %+v", hr)
	}
	for _, tc := range []struct {
		name  string
		id    int32
		epoch int64
		want  error
	}{
		{"unknown broker", 7, b.Epoch, metadata.ErrFenced},
		{"older epoch", 1, b.Epoch - 1, metadata.ErrStaleEpoch},
		{"newer epoch", 1, b.Epoch + 1, metadata.ErrStaleEpoch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Heartbeat(ctx, tc.id, tc.epoch)
			mustErr(t, err, tc.want)
		})
	}

	t.Run("heartbeats keep the session", func(t *testing.T) {
		// Heartbeat for several session timeouts; the broker stays alive.
		end := time.Now().Add(900 * time.Millisecond)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for time.Now().Before(end) {
			<-tick.C
			_, err := s.Heartbeat(ctx, 1, b.Epoch)
			mustOK(t, err)
		}
		st, err := s.Snapshot(ctx)
		mustOK(t, err)
		if st.Brokers[1].Fenced {
			t.Fatalf("heartbeating broker fenced")
		}
	})
	t.Run("fenced after the timeout", func(t *testing.T) {
		waitFenced(t, s, 1, b.Epoch)
		_, err := s.Heartbeat(ctx, 1, b.Epoch)
		mustErr(t, err, metadata.ErrFenced)
	})
	t.Run("unregistered", func(t *testing.T) {
		b2, err := s.RegisterBroker(ctx, reg(2, "a"))
		mustOK(t, err)
		mustOK(t, s.UnregisterBroker(ctx, 2, b2.Epoch))
		_, err = s.Heartbeat(ctx, 2, b2.Epoch)
		mustErr(t, err, metadata.ErrFenced)
	})
}

// TestFenceOnePerChange checks that expired sessions are fenced by the
// reaper, each by its own committed change, and only expired ones.
func TestFenceOnePerChange(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{SessionTimeout: 300 * time.Millisecond})
	ch, err := s.Watch(ctx, 0)
	mustOK(t, err)
	epochs := map[int32]int64{}
	for id := int32(1); id <= 4; id++ {
		b, err := s.RegisterBroker(ctx, reg(id, "x"))
		mustOK(t, err)
		epochs[id] = b.Epoch
	}
	for range 4 {
		nextBatch(t, ch) // the registrations
	}
	// Broker 4 keeps heartbeating until three fences were seen.
	hbCtx, stopHB := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-tick.C:
				if _, err := s.Heartbeat(hbCtx, 4, epochs[4]); err != nil && hbCtx.Err() == nil {
					t.Errorf("heartbeat: %v", err)
					return
				}
			}
		}
	}()
	fenced := map[int32]bool{}
	for range 3 {
		b := nextBatch(t, ch)
		if len(b.Events) != 1 || b.Events[0].Type != metadata.EventBrokerFenced {
			t.Fatalf("batch %s, want one BrokerFenced event", describe(b))
		}
		e := b.Events[0].Broker
		if !e.Fenced || e.Epoch != epochs[e.ID] || e.ID == 4 || fenced[e.ID] {
			t.Fatalf("fence event %+v", e)
		}
		fenced[e.ID] = true
	}
	stopHB()
	<-hbDone
	st, err := s.Snapshot(ctx)
	mustOK(t, err)
	if st.Brokers[4].Fenced {
		t.Fatalf("heartbeating broker 4 fenced")
	}
	if got := len(st.LiveBrokers()); got != 1 {
		t.Fatalf("%d live brokers, want 1", got)
	}
	// Without heartbeats broker 4 goes too.
	b := nextBatch(t, ch)
	if len(b.Events) != 1 || b.Events[0].Type != metadata.EventBrokerFenced || b.Events[0].Broker.ID != 4 {
		t.Fatalf("batch %s, want broker 4 fenced", describe(b))
	}
}

func TestUnregisterBroker(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	mustOK(t, s.UnregisterBroker(ctx, 5, 1)) // unknown: idempotent
	b, err := s.RegisterBroker(ctx, reg(5, "a"))
	mustOK(t, err)
	mustErr(t, s.UnregisterBroker(ctx, 5, b.Epoch+1), metadata.ErrStaleEpoch)
	ch, err := s.Watch(ctx, revision(t, s))
	mustOK(t, err)
	mustOK(t, s.UnregisterBroker(ctx, 5, b.Epoch))
	ev := nextBatch(t, ch)
	if len(ev.Events) != 1 || ev.Events[0].Type != metadata.EventBrokerUnregistered || ev.Events[0].BrokerID != 5 {
		t.Fatalf("batch %s", describe(ev))
	}
	st, err := s.Snapshot(ctx)
	mustOK(t, err)
	if _, ok := st.Brokers[5]; ok {
		t.Fatalf("unregistered broker still in the state")
	}
	mustOK(t, s.UnregisterBroker(ctx, 5, b.Epoch)) // again: idempotent
}

func TestCreateTopicValidation(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	p := func(leader int32, replicas, isr []int32) metadata.PartitionSpec {
		return metadata.PartitionSpec{Replicas: replicas, Leader: leader, ISR: isr}
	}
	good := p(1, []int32{1, 2, 3}, nil)
	for _, tc := range []struct {
		name string
		spec metadata.TopicSpec
	}{
		{"empty name", metadata.TopicSpec{ID: topicID(1), Partitions: []metadata.PartitionSpec{good}}},
		{"zero id", metadata.TopicSpec{Name: "t", Partitions: []metadata.PartitionSpec{good}}},
		{"no partitions", metadata.TopicSpec{Name: "t", ID: topicID(1)}},
		{"no replicas", spec("t", good, p(metadata.NoLeader, nil, nil))},
		{"duplicate replicas", spec("t", p(1, []int32{1, 2, 1}, nil))},
		{"negative replica", spec("t", p(1, []int32{1, -2}, nil))},
		{"leader not a replica", spec("t", p(4, []int32{1, 2, 3}, nil))},
		{"isr not a subset", spec("t", p(1, []int32{1, 2, 3}, []int32{1, 4}))},
		{"duplicate isr", spec("t", p(1, []int32{1, 2, 3}, []int32{1, 1}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateTopic(ctx, tc.spec)
			mustErr(t, err, metadata.ErrInvalid)
		})
	}
	if r := revision(t, s); r != 0 {
		t.Fatalf("invalid creates committed: revision %d", r)
	}
}

func TestCreateTopic(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	sp := spec("orders",
		metadata.PartitionSpec{Replicas: []int32{1, 2, 3}, Leader: 1},
		metadata.PartitionSpec{Replicas: []int32{2, 3, 1}, Leader: 2, ISR: []int32{2, 3}},
		metadata.PartitionSpec{Replicas: []int32{3}, Leader: metadata.NoLeader},
	)
	sp.Configs = map[string]string{"retention.ms": "1000"}
	ch, err := s.Watch(ctx, 0)
	mustOK(t, err)
	tp, err := s.CreateTopic(ctx, sp)
	mustOK(t, err)
	want := metadata.Topic{Name: "orders", ID: sp.ID, Configs: sp.Configs, CreatedAt: 1, Partitions: []metadata.Partition{
		{Topic: "orders", Partition: 0, Replicas: []int32{1, 2, 3}, Leader: 1, ISR: []int32{1, 2, 3}},
		{Topic: "orders", Partition: 1, Replicas: []int32{2, 3, 1}, Leader: 2, ISR: []int32{2, 3}},
		{Topic: "orders", Partition: 2, Replicas: []int32{3}, Leader: metadata.NoLeader, ISR: []int32{3}},
	}}
	if !topicsEqual(tp, want) {
		t.Fatalf("created %+v, want %+v", tp, want)
	}
	b := nextBatch(t, ch)
	if b.Revision != 1 || len(b.Events) != 1 || b.Events[0].Type != metadata.EventTopicCreated || !topicsEqual(b.Events[0].Topic, want) {
		t.Fatalf("batch %s %+v", describe(b), b.Events)
	}
	st, err := s.Snapshot(ctx)
	mustOK(t, err)
	if !topicsEqual(st.Topics["orders"], want) {
		t.Fatalf("snapshot %+v", st.Topics["orders"])
	}

	t.Run("exists", func(t *testing.T) {
		again := sp
		again.ID = topicID(99)
		got, err := s.CreateTopic(ctx, again)
		mustErr(t, err, metadata.ErrTopicExists)
		if got.ID != sp.ID {
			t.Fatalf("ErrTopicExists returned topic id %v, want the stored %v", got.ID, sp.ID)
		}
	})
}

func topicsEqual(a, b metadata.Topic) bool {
	if a.Name != b.Name || a.ID != b.ID || a.CreatedAt != b.CreatedAt || len(a.Configs) != len(b.Configs) ||
		len(a.Partitions) != len(b.Partitions) {
		return false
	}
	for k, v := range a.Configs {
		if b.Configs[k] != v {
			return false
		}
	}
	for i := range a.Partitions {
		if !partitionsEqual(a.Partitions[i], b.Partitions[i]) {
			return false
		}
	}
	return true
}

func partitionsEqual(a, b metadata.Partition) bool {
	return a.Topic == b.Topic && a.Partition == b.Partition && slices.Equal(a.Replicas, b.Replicas) &&
		a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch && slices.Equal(a.ISR, b.ISR) &&
		a.PartitionEpoch == b.PartitionEpoch
}

func TestDeleteTopic(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	mustErr(t, s.DeleteTopic(ctx, "nope"), metadata.ErrUnknownTopic)
	_, err := s.CreateTopic(ctx, spec("t", metadata.PartitionSpec{Replicas: []int32{1}, Leader: 1}))
	mustOK(t, err)
	ch, err := s.Watch(ctx, revision(t, s))
	mustOK(t, err)
	mustOK(t, s.DeleteTopic(ctx, "t"))
	b := nextBatch(t, ch)
	if len(b.Events) != 1 || b.Events[0].Type != metadata.EventTopicDeleted || b.Events[0].TopicName != "t" {
		t.Fatalf("batch %s", describe(b))
	}
	mustErr(t, s.DeleteTopic(ctx, "t"), metadata.ErrUnknownTopic)
	_, err = s.AlterPartition(ctx, metadata.PartitionChange{Topic: "t", Leader: 1, ISR: []int32{1}})
	mustErr(t, err, metadata.ErrUnknownTopic)
	// The name can be reused.
	_, err = s.CreateTopic(ctx, spec("t", metadata.PartitionSpec{Replicas: []int32{1}, Leader: 1}))
	mustOK(t, err)
}

func TestAlterPartition(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	_, err := s.CreateTopic(ctx, spec("t",
		metadata.PartitionSpec{Replicas: []int32{1, 2, 3}, Leader: 1},
		metadata.PartitionSpec{Replicas: []int32{2, 3}, Leader: 2}))
	mustOK(t, err)
	// Each step runs against the state the previous steps left.
	for _, tc := range []struct {
		name   string
		change metadata.PartitionChange
		want   error
		// on success: the expected leader epoch and partition epoch
		leaderEpoch, partitionEpoch int32
	}{
		{name: "unknown topic", change: metadata.PartitionChange{Topic: "x", Leader: 1}, want: metadata.ErrUnknownTopic},
		{name: "partition out of range", change: metadata.PartitionChange{Topic: "t", Partition: 2, Leader: 1}, want: metadata.ErrUnknownTopic},
		{name: "negative partition", change: metadata.PartitionChange{Topic: "t", Partition: -1, Leader: 1}, want: metadata.ErrUnknownTopic},
		{name: "leader not a replica", change: metadata.PartitionChange{Topic: "t", Leader: 4, ISR: []int32{1}}, want: metadata.ErrInvalid},
		{name: "isr not replicas", change: metadata.PartitionChange{Topic: "t", Leader: 1, ISR: []int32{1, 5}}, want: metadata.ErrInvalid},
		{name: "empty reassignment", change: metadata.PartitionChange{Topic: "t", Leader: 1, ISR: []int32{1}, Replicas: []int32{}}, want: metadata.ErrInvalid},
		{name: "stale epoch", change: metadata.PartitionChange{Topic: "t", ExpectedPartitionEpoch: 1, Leader: 1, ISR: []int32{1}}, want: metadata.ErrStaleEpoch},
		{name: "shrink isr, same leader", change: metadata.PartitionChange{Topic: "t", Leader: 1, ISR: []int32{1, 2}},
			leaderEpoch: 0, partitionEpoch: 1},
		{name: "old epoch again", change: metadata.PartitionChange{Topic: "t", Leader: 2, ISR: []int32{2}}, want: metadata.ErrStaleEpoch},
		{name: "leader change", change: metadata.PartitionChange{Topic: "t", ExpectedPartitionEpoch: 1, Leader: 2, ISR: []int32{2}},
			leaderEpoch: 1, partitionEpoch: 2},
		{name: "no leader", change: metadata.PartitionChange{Topic: "t", ExpectedPartitionEpoch: 2, Leader: metadata.NoLeader},
			leaderEpoch: 2, partitionEpoch: 3},
		{name: "reassign", change: metadata.PartitionChange{Topic: "t", ExpectedPartitionEpoch: 3, Leader: 4, ISR: []int32{4}, Replicas: []int32{4, 5}},
			leaderEpoch: 3, partitionEpoch: 4},
		{name: "old replicas gone", change: metadata.PartitionChange{Topic: "t", ExpectedPartitionEpoch: 4, Leader: 1, ISR: []int32{4}}, want: metadata.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := revision(t, s)
			ch, err := s.Watch(ctx, before)
			mustOK(t, err)
			p, err := s.AlterPartition(ctx, tc.change)
			if tc.want != nil {
				mustErr(t, err, tc.want)
				if r := revision(t, s); r != before {
					t.Fatalf("failed change committed")
				}
				return
			}
			mustOK(t, err)
			replicas := tc.change.Replicas
			if replicas == nil {
				replicas = []int32{1, 2, 3}
			}
			want := metadata.Partition{Topic: "t", Replicas: replicas, Leader: tc.change.Leader, ISR: tc.change.ISR,
				LeaderEpoch: tc.leaderEpoch, PartitionEpoch: tc.partitionEpoch}
			if !partitionsEqual(p, want) {
				t.Fatalf("got %+v, want %+v", p, want)
			}
			b := nextBatch(t, ch)
			if b.Revision != before+1 || len(b.Events) != 1 || b.Events[0].Type != metadata.EventPartitionChanged ||
				!partitionsEqual(b.Events[0].Partition, want) {
				t.Fatalf("batch %s %+v", describe(b), b.Events)
			}
			st, err := s.Snapshot(ctx)
			mustOK(t, err)
			if !partitionsEqual(st.Topics["t"].Partitions[0], want) {
				t.Fatalf("snapshot %+v", st.Topics["t"].Partitions[0])
			}
			if !partitionsEqual(st.Topics["t"].Partitions[1], metadata.Partition{Topic: "t", Partition: 1,
				Replicas: []int32{2, 3}, Leader: 2, ISR: []int32{2, 3}}) {
				t.Fatalf("other partition changed: %+v", st.Topics["t"].Partitions[1])
			}
		})
	}
}

func TestAllocateProducerIDs(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{})
	for _, n := range []int{0, -1} {
		_, err := s.AllocateProducerIDs(ctx, n)
		mustErr(t, err, metadata.ErrInvalid)
	}
	ch, err := s.Watch(ctx, 0)
	mustOK(t, err)
	first, err := s.AllocateProducerIDs(ctx, 10)
	mustOK(t, err)
	second, err := s.AllocateProducerIDs(ctx, 1)
	mustOK(t, err)
	if second != first+10 {
		t.Fatalf("blocks %d+10 and %d overlap or leave a gap", first, second)
	}
	for _, want := range []int64{first + 10, first + 11} {
		b := nextBatch(t, ch)
		if len(b.Events) != 1 || b.Events[0].Type != metadata.EventProducerIDsAllocated || b.Events[0].NextProducerID != want {
			t.Fatalf("batch %s %+v, want next producer id %d", describe(b), b.Events, want)
		}
	}
	st, err := s.Snapshot(ctx)
	mustOK(t, err)
	if st.NextProducerID != first+11 {
		t.Fatalf("NextProducerID %d", st.NextProducerID)
	}
}

func TestContextHonoured(t *testing.T) {
	s := newStore(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range calls(s) {
		if err := call(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v", name, err)
		}
	}
	if r := revision(t, s); r != 0 {
		t.Fatalf("canceled calls committed: revision %d", r)
	}
}

// calls returns one call of each method of s, valid on a fresh store.
func calls(s *Store) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"RegisterBroker": func(ctx context.Context) error { _, err := s.RegisterBroker(ctx, reg(1, "a")); return err },
		"Heartbeat":      func(ctx context.Context) error { _, err := s.Heartbeat(ctx, 1, 1); return err },
		"UnregisterBroker": func(ctx context.Context) error {
			return s.UnregisterBroker(ctx, 1, 1)
		},
		"CreateTopic": func(ctx context.Context) error {
			_, err := s.CreateTopic(ctx, spec("c", metadata.PartitionSpec{Replicas: []int32{1}, Leader: 1}))
			return err
		},
		"DeleteTopic": func(ctx context.Context) error { return s.DeleteTopic(ctx, "c") },
		"AlterPartition": func(ctx context.Context) error {
			_, err := s.AlterPartition(ctx, metadata.PartitionChange{Topic: "c", Leader: 1, ISR: []int32{1}})
			return err
		},
		"AllocateProducerIDs": func(ctx context.Context) error { _, err := s.AllocateProducerIDs(ctx, 1); return err },
		"Snapshot":            func(ctx context.Context) error { _, err := s.Snapshot(ctx); return err },
		"Watch":               func(ctx context.Context) error { _, err := s.Watch(ctx, 0); return err },
		"Info":                func(ctx context.Context) error { _, err := s.Info(ctx); return err },
		"Compact":             func(ctx context.Context) error { return s.Compact(ctx, 0) },
	}
}

func TestCloseFailsEveryCall(t *testing.T) {
	ctx := testCtx(t)
	s, err := NewStore(Config{})
	mustOK(t, err)
	n := s.Node("1")
	defer n.Close()
	_, err = s.AllocateProducerIDs(ctx, 1)
	mustOK(t, err)
	// One watcher that reads, one that never does (its buffer full).
	reading, err := s.Watch(ctx, 0)
	mustOK(t, err)
	nextBatch(t, reading)
	idle, err := n.Watch(ctx, 0)
	mustOK(t, err)
	_, err = s.AllocateProducerIDs(ctx, 1)
	mustOK(t, err)
	eventually(t, "idle watcher's buffer full", func() bool { return len(idle) == 1 })

	mustOK(t, s.Close())
	mustOK(t, s.Close()) // idempotent
	endsWith(t, reading, metadata.ErrUnavailable)
	endsWith(t, idle, metadata.ErrUnavailable)
	for _, h := range []*Store{s, n} {
		for name, call := range calls(h) {
			if err := call(ctx); !errors.Is(err, metadata.ErrUnavailable) {
				t.Errorf("%s after Close: %v", name, err)
			}
		}
	}
	// A handle taken after Close is closed too.
	late := s.Node("2")
	_, err = late.Snapshot(ctx)
	mustErr(t, err, metadata.ErrUnavailable)
	mustOK(t, late.Close())
}

func TestInfo(t *testing.T) {
	ctx := testCtx(t)
	peers := []metadata.Peer{{ID: "a", Address: "127.0.0.1:1"}, {ID: "b", Address: "127.0.0.1:2"}}
	s := newStore(t, Config{NodeID: "a", Peers: peers})
	n := s.Node("b")
	t.Cleanup(func() { n.Close() })
	for _, tc := range []struct {
		h    *Store
		node string
	}{{s, "a"}, {n, "b"}} {
		info, err := tc.h.Info(ctx)
		mustOK(t, err)
		if info.Name != Name || info.Version != Version || info.NodeID != tc.node || info.Leader != "a" ||
			!info.Has(metadata.CapMultiNode) || !info.Has(metadata.CapCompact) ||
			info.Has(metadata.CapPersistence) || info.Has(metadata.CapFailover) {
			t.Fatalf("info %+v", info)
		}
		want := []metadata.Member{{ID: "a", Address: "127.0.0.1:1", Voter: true, Leader: true}, {ID: "b", Address: "127.0.0.1:2"}}
		if !slices.Equal(info.Members, want) {
			t.Fatalf("members %+v, want %+v", info.Members, want)
		}
	}
	lone := newStore(t, Config{NodeID: "solo"})
	info, err := lone.Info(ctx)
	mustOK(t, err)
	if len(info.Members) != 1 || info.Members[0].ID != "solo" || !info.Members[0].Leader {
		t.Fatalf("members %+v", info.Members)
	}
}

func TestNodeHandles(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, Config{NodeID: "0"})
	n1, n2 := s.Node("1"), s.Node("2")
	t.Cleanup(func() { n1.Close(); n2.Close() })

	w1, err := n1.Watch(ctx, 0)
	mustOK(t, err)
	w2, err := n2.Watch(ctx, 0)
	mustOK(t, err)
	// A write through one node is visible on every node at once.
	b, err := n1.RegisterBroker(ctx, reg(1, "a"))
	mustOK(t, err)
	for _, h := range []*Store{s, n1, n2} {
		st, err := h.Snapshot(ctx)
		mustOK(t, err)
		if st.Brokers[1].Epoch != b.Epoch {
			t.Fatalf("node %s does not see the registration", h.h.id)
		}
	}
	_, err = n2.Heartbeat(ctx, 1, b.Epoch)
	mustOK(t, err)
	nextBatch(t, w1)
	nextBatch(t, w2)

	// Closing a handle ends its watches only.
	mustOK(t, n1.Close())
	endsWith(t, w1, metadata.ErrUnavailable)
	_, err = n1.Snapshot(ctx)
	mustErr(t, err, metadata.ErrUnavailable)
	_, err = n2.AllocateProducerIDs(ctx, 1)
	mustOK(t, err)
	nextBatch(t, w2)
	_, err = s.Snapshot(ctx)
	mustOK(t, err)

	// Closing the store ends every handle.
	mustOK(t, s.Close())
	endsWith(t, w2, metadata.ErrUnavailable)
	_, err = n2.Snapshot(ctx)
	mustErr(t, err, metadata.ErrUnavailable)
}

func TestRevisionAfterClose(t *testing.T) {
	ctx := testCtx(t)
	s, err := NewStore(Config{})
	mustOK(t, err)
	_, err = s.AllocateProducerIDs(ctx, 1)
	mustOK(t, err)
	mustOK(t, s.Close())
	if r := s.Revision(); r != 1 {
		t.Fatalf("Revision after Close = %d, want 1", r)
	}
	next := newStore(t, Config{InitialRevision: s.Revision() + 1})
	_, err = next.Watch(ctx, 1) // the old store's last resume point
	mustErr(t, err, metadata.ErrCompacted)
}
