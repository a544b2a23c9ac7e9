package cluster

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func broker(id int32, epoch int64, fenced bool) metadata.Broker {
	return metadata.Broker{ID: id, IncarnationID: fmt.Sprintf("inc-%d-%d", id, epoch), Epoch: epoch, Fenced: fenced,
		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "10.0.0.1", Port: 9000 + id}}}
}

func tid(b byte) metadata.TopicID {
	var id metadata.TopicID
	id[0], id[15] = b, 1
	return id
}

// topic builds a topic whose partition p is led by leaders[p], with
// replicas {leader, leader%3+1}.
func topic(name string, id byte, created metadata.Revision, leaders ...int32) metadata.Topic {
	t := metadata.Topic{Name: name, ID: tid(id), CreatedAt: created}
	for p, l := range leaders {
		r := []int32{l, l%3 + 1}
		t.Partitions = append(t.Partitions, metadata.Partition{Topic: name, Partition: int32(p), Replicas: r, Leader: l, ISR: slices.Clone(r)})
	}
	return t
}

func testState() metadata.State {
	st := metadata.NewState()
	st.Revision = 10
	st.Brokers[3] = broker(3, 5, false)
	st.Brokers[1] = broker(1, 2, true)
	st.Brokers[2] = broker(2, 3, false)
	st.Topics["b"] = topic("b", 2, 7, 2, 3, 1)
	st.Topics["a"] = topic("a", 1, 6, 1)
	st.NextProducerID = 1000
	st.ClusterID = "MkU3OEVBNTcwNTJENDM2Qk"
	return st
}

func TestImageFromState(t *testing.T) {
	st := testState()
	img := newImage(st.Clone())
	sameState(t, img, st)
	if img.ClusterID() != "MkU3OEVBNTcwNTJENDM2Qk" {
		t.Errorf("ClusterID = %q, want the state's", img.ClusterID())
	}
	if got := liveIDs(img); !slices.Equal(got, []int32{2, 3}) {
		t.Errorf("LiveBrokers = %v, want [2 3] (1 is fenced)", got)
	}
	var all []int32
	for _, b := range img.Brokers() {
		all = append(all, b.ID)
	}
	if !slices.Equal(all, []int32{1, 2, 3}) {
		t.Errorf("Brokers = %v, want [1 2 3]", all)
	}
	if got := img.ControllerID(); got != 2 {
		t.Errorf("ControllerID = %d, want 2 (lowest live)", got)
	}
	if !slices.Equal(img.TopicNames(), []string{"a", "b"}) {
		t.Errorf("TopicNames = %v", img.TopicNames())
	}
	if img.IsLive(1) || !img.IsLive(2) || img.IsLive(9) {
		t.Errorf("IsLive(1, 2, 9) = %v, %v, %v", img.IsLive(1), img.IsLive(2), img.IsLive(9))
	}
	// Partition a/0 is led by fenced broker 1: it exists, but has no live
	// leader (LEADER_NOT_AVAILABLE).
	if _, ok := img.Partition("a", 0); !ok {
		t.Fatal("Partition(a, 0) missing")
	}
	if _, _, ok := img.LeaderFor("a", 0); ok {
		t.Error("LeaderFor(a, 0) ok with a fenced leader")
	}
	if l, e, ok := img.LeaderFor("b", 1); !ok || l.ID != 3 || e != 0 {
		t.Errorf("LeaderFor(b, 1) = %d, %d, %v; want 3, 0, true", l.ID, e, ok)
	}
	for _, c := range []struct {
		topic string
		p     int32
	}{{"a", 1}, {"a", -1}, {"zz", 0}} {
		if _, ok := img.Partition(c.topic, c.p); ok {
			t.Errorf("Partition(%s, %d) exists", c.topic, c.p)
		}
		if _, _, ok := img.LeaderFor(c.topic, c.p); ok {
			t.Errorf("LeaderFor(%s, %d) ok", c.topic, c.p)
		}
	}
}

func TestNilAndEmptyImage(t *testing.T) {
	var img *Image
	if img.Revision() != 0 || img.LiveBrokers() != nil || img.Brokers() != nil || img.TopicNames() != nil ||
		img.ControllerID() != -1 || img.IsLive(1) || img.NextProducerID() != 0 || img.ClusterID() != "" {
		t.Error("nil image does not answer as an empty cluster")
	}
	if _, ok := img.Broker(1); ok {
		t.Error("nil image has broker 1")
	}
	if _, ok := img.Topic("a"); ok {
		t.Error("nil image has topic a")
	}
	if _, ok := img.TopicByID(tid(1)); ok {
		t.Error("nil image has topic id 1")
	}
	if _, _, ok := img.LeaderFor("a", 0); ok {
		t.Error("nil image has a leader")
	}
	empty := newImage(metadata.State{})
	if empty.ControllerID() != -1 || len(empty.LiveBrokers()) != 0 {
		t.Errorf("empty image: controller %d, live %v", empty.ControllerID(), empty.LiveBrokers())
	}
}

func TestNoLeaderPartition(t *testing.T) {
	st := testState()
	tp := st.Topics["b"]
	tp.Partitions[2].Leader = metadata.NoLeader
	tp.Partitions[2].LeaderEpoch = 4
	img := newImage(st)
	if _, e, ok := img.LeaderFor("b", 2); ok || e != 4 {
		t.Errorf("LeaderFor(b, 2) = %d, %v; want epoch 4, not ok", e, ok)
	}
}

// TestBuilderMatchesStateApply applies the same batches to an Image and to
// a metadata.State (the contract's reference Apply) and compares, checking
// that earlier images never change and untouched topics are shared.
func TestBuilderMatchesStateApply(t *testing.T) {
	st := testState()
	base := newImage(st.Clone())
	ref := st.Clone()
	batches := []metadata.WatchBatch{
		{Revision: 11, Events: []metadata.Event{{Type: metadata.EventBrokerRegistered, Broker: broker(4, 11, false)}}},
		{Revision: 12, Events: []metadata.Event{{Type: metadata.EventBrokerFenced, Broker: broker(2, 3, true)}}},
		{Revision: 13, Events: []metadata.Event{{Type: metadata.EventTopicCreated, Topic: topic("c", 3, 13, 3, 4)}}},
		{Revision: 15, Events: []metadata.Event{{Type: metadata.EventPartitionChanged, Partition: metadata.Partition{
			Topic: "b", Partition: 0, Replicas: []int32{2, 3}, Leader: 3, LeaderEpoch: 1, ISR: []int32{3}, PartitionEpoch: 1}}}},
		{Revision: 16, Events: []metadata.Event{{Type: metadata.EventTopicDeleted, TopicName: "a"}}},
		{Revision: 17, Events: []metadata.Event{{Type: metadata.EventProducerIDsAllocated, NextProducerID: 2000}}},
		{Revision: 18, Events: []metadata.Event{{Type: metadata.EventBrokerUnregistered, BrokerID: 1}}},
		{Revision: 19, Events: []metadata.Event{{Type: metadata.EventTopicUpdated, Topic: func() metadata.Topic {
			c := topic("c", 3, 13, 3, 4, 3)
			c.Configs = map[string]string{"retention.ms": "1000"}
			return c
		}()}}},
		{Revision: 20, Events: []metadata.Event{
			{Type: metadata.EventTopicCreated, Topic: topic("a", 9, 20, 4)},
			{Type: metadata.EventBrokerRegistered, Broker: broker(2, 20, false)},
		}},
	}
	imgs := []*Image{base}
	for i, b := range batches {
		// One batch per builder, and also all of them in one builder.
		bl := newBuilder(imgs[len(imgs)-1])
		if err := bl.apply(b); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		imgs = append(imgs, bl.build())
		if err := ref.Apply(b); err != nil {
			t.Fatalf("State.Apply batch %d: %v", i, err)
		}
		sameState(t, imgs[len(imgs)-1], ref)
	}
	sameState(t, base, st) // the base never changed
	burst := newBuilder(base)
	for _, b := range batches {
		if err := burst.apply(b); err != nil {
			t.Fatal(err)
		}
	}
	sameState(t, burst.build(), ref)

	// Topic "b" is untouched by revision 13: the images share it.
	b12, _ := imgs[2].Topic("b")
	b13, _ := imgs[3].Topic("b")
	if &b12.Partitions[0] != &b13.Partitions[0] {
		t.Error("unchanged topic b was copied between revisions")
	}
	// Revision 15 changed b/0 only; b/0 of the older image is as it was.
	if p, _ := imgs[3].Partition("b", 0); p.Leader != 2 {
		t.Errorf("older image's b/0 leader = %d, want 2", p.Leader)
	}
	if l, e, ok := imgs[4].LeaderFor("b", 0); !ok || l.ID != 3 || e != 1 {
		t.Errorf("LeaderFor(b, 0) = %d, %d, %v; want 3, 1", l.ID, e, ok)
	}
	// Broker 2 fenced at revision 12: gone from LiveBrokers, controller
	// moves to 3, partitions it leads have no live leader.
	if got := liveIDs(imgs[2]); !slices.Equal(got, []int32{3, 4}) || imgs[2].ControllerID() != 3 {
		t.Errorf("after fencing 2: live %v, controller %d", got, imgs[2].ControllerID())
	}
	if _, _, ok := imgs[2].LeaderFor("b", 0); ok {
		t.Error("partition led by fenced broker 2 has a live leader")
	}
	// Topic "a" was deleted and re-created with another id.
	if _, ok := imgs[len(imgs)-1].TopicByID(tid(1)); ok {
		t.Error("deleted topic id still resolves")
	}
}

func TestBuilderRefusesGaps(t *testing.T) {
	st := testState()
	for _, c := range []struct {
		name  string
		batch metadata.WatchBatch
	}{
		{"not newer", metadata.WatchBatch{Revision: 10}},
		{"older", metadata.WatchBatch{Revision: 3}},
		{"delete unknown topic", metadata.WatchBatch{Revision: 11, Events: []metadata.Event{{Type: metadata.EventTopicDeleted, TopicName: "zz"}}}},
		{"update unknown topic", metadata.WatchBatch{Revision: 11, Events: []metadata.Event{{Type: metadata.EventTopicUpdated, Topic: topic("zz", 9, 1, 1)}}}},
		{"change unknown topic", metadata.WatchBatch{Revision: 11, Events: []metadata.Event{{Type: metadata.EventPartitionChanged, Partition: metadata.Partition{Topic: "zz"}}}}},
		{"change unknown partition", metadata.WatchBatch{Revision: 11, Events: []metadata.Event{{Type: metadata.EventPartitionChanged, Partition: metadata.Partition{Topic: "a", Partition: 5}}}}},
		{"unknown event type", metadata.WatchBatch{Revision: 11, Events: []metadata.Event{{Type: metadata.EventType(99)}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := newImage(st.Clone())
			err := newBuilder(base).apply(c.batch)
			mustErr(t, err, errGap)
			sameState(t, base, st)
		})
	}
	errBatch := metadata.WatchBatch{Err: metadata.ErrCompacted}
	if err := newBuilder(newImage(st.Clone())).apply(errBatch); !errors.Is(err, metadata.ErrCompacted) || errors.Is(err, errGap) {
		t.Errorf("Err batch: %v, want the batch's error", err)
	}
}

// TestImageReadsAllocateNothing: Metadata requests read the image on every
// call.
func TestImageReadsAllocateNothing(t *testing.T) {
	img := newImage(testState())
	var sink int
	reads := map[string]func(){
		"LiveBrokers":          func() { sink += len(img.LiveBrokers()) },
		"Brokers":              func() { sink += len(img.Brokers()) },
		"Broker":               func() { b, _ := img.Broker(2); sink += int(b.ID) },
		"IsLive":               func() { _ = img.IsLive(3) },
		"ControllerID":         func() { sink += int(img.ControllerID()) },
		"TopicNames":           func() { sink += len(img.TopicNames()) },
		"Topic":                func() { tp, _ := img.Topic("b"); sink += len(tp.Partitions) },
		"TopicByID":            func() { tp, _ := img.TopicByID(tid(2)); sink += len(tp.Partitions) },
		"Partition":            func() { p, _ := img.Partition("b", 2); sink += int(p.Leader) },
		"LeaderFor":            func() { l, e, _ := img.LeaderFor("b", 1); sink += int(l.ID + e) },
		"LiveLeader":           func() { p, _ := img.Partition("b", 1); l, _ := img.LiveLeader(p); sink += int(l.ID) },
		"ChangedTopics (none)": func() { sink += len(img.ChangedTopics(img)) },
		"Revision":             func() { sink += int(img.Revision()) },
	}
	for name, f := range reads {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
	_ = sink
}

func BenchmarkImageReads(b *testing.B) {
	st := metadata.NewState()
	st.Revision = 1
	for id := int32(1); id <= 9; id++ {
		st.Brokers[id] = broker(id, int64(id), false)
	}
	for i := range 1000 {
		name := fmt.Sprintf("topic-%04d", i)
		st.Topics[name] = topic(name, byte(i), 1, int32(i%9+1), int32((i+1)%9+1), int32((i+2)%9+1))
	}
	img := newImage(st)
	b.Run("LiveBrokers", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = img.LiveBrokers()
		}
	})
	b.Run("LeaderFor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _, _ = img.LeaderFor("topic-0500", 1)
		}
	})
	b.Run("MetadataAllTopics", func(b *testing.B) {
		// What a Metadata request for every topic reads.
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for _, name := range img.TopicNames() {
				tp, _ := img.Topic(name)
				for _, p := range tp.Partitions {
					if _, ok := img.LiveLeader(p); ok {
						n++
					}
				}
			}
		}
	})
	b.Run("ApplyPartitionChange", func(b *testing.B) {
		b.ReportAllocs()
		rev := img.rev
		for b.Loop() {
			rev++
			bl := newBuilder(img)
			if err := bl.apply(metadata.WatchBatch{Revision: rev, Events: []metadata.Event{{Type: metadata.EventPartitionChanged,
				Partition: metadata.Partition{Topic: "topic-0001", Partition: 1, Replicas: []int32{3, 4}, Leader: 4, ISR: []int32{3, 4}}}}}); err != nil {
				b.Fatal(err)
			}
			_ = bl.build()
		}
	})
}

func TestChangedTopics(t *testing.T) {
	base := newImage(testState())
	if got := base.ChangedTopics(nil); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("against nil: %v", got)
	}
	if got := base.ChangedTopics(base); got != nil {
		t.Errorf("against itself: %v", got)
	}
	step := func(from *Image, events ...metadata.Event) *Image {
		t.Helper()
		b := newBuilder(from)
		if err := b.apply(metadata.WatchBatch{Revision: from.rev + 1, Events: events}); err != nil {
			t.Fatal(err)
		}
		return b.build()
	}
	brokersOnly := step(base, metadata.Event{Type: metadata.EventBrokerFenced, Broker: broker(2, 3, true)})
	if got := brokersOnly.ChangedTopics(base); got != nil {
		t.Errorf("after a broker change: %v", got)
	}
	created := step(brokersOnly, metadata.Event{Type: metadata.EventTopicCreated, Topic: topic("c", 3, 12, 1)})
	if got := created.ChangedTopics(base); !slices.Equal(got, []string{"c"}) {
		t.Errorf("after creating c: %v", got)
	}
	changed := step(created, metadata.Event{Type: metadata.EventPartitionChanged, Partition: metadata.Partition{
		Topic: "b", Partition: 1, Replicas: []int32{3, 1}, Leader: 1, LeaderEpoch: 1, ISR: []int32{3, 1}, PartitionEpoch: 1}})
	if got := changed.ChangedTopics(created); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after a leader change in b: %v", got)
	}
	deleted := step(changed, metadata.Event{Type: metadata.EventTopicDeleted, TopicName: "a"})
	if got := deleted.ChangedTopics(base); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("against the base after delete a, change b, create c: %v", got)
	}
	if got := (*Image)(nil).ChangedTopics(deleted); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("nil against an image: %v", got)
	}
}
