package conformance

import (
	"fmt"
	"reflect"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func topicChecks() []Check {
	return []Check{
		{
			Name:   "Topics/CreateVisibleOnEveryNode",
			Clause: "CreateTopic creates every partition at epoch 0 (empty ISR = all replicas) in one change, watched as TopicCreated at revision CreatedAt and in every node's Snapshot",
			Run:    checkTopicCreate,
		},
		{
			Name:   "Topics/DeleteRemovesEverywhere",
			Clause: "DeleteTopic removes the topic in one change (TopicDeleted) from every node; the name can then be created again",
			Run:    checkTopicDelete,
		},
		{
			Name:   "Topics/CreateExistingFails",
			Clause: "CreateTopic of an existing name fails with ErrTopicExists on every node and leaves the topic as it was",
			Run:    checkTopicExists,
		},
		{
			Name:   "Topics/DeleteUnknownFails",
			Clause: "DeleteTopic of a name that does not exist (never, or no longer) fails with ErrUnknownTopic",
			Run:    checkTopicDeleteUnknown,
		},
		{
			Name:   "Topics/InvalidSpecsRejected",
			Clause: "CreateTopic fails with ErrInvalid for an empty name, a zero id, no partitions, or a bad partition spec, and creates nothing",
			Run:    checkTopicInvalid,
		},
	}
}

func checkTopicCreate(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	s0 := e.snapshot(0)
	watches := make([]*collector, n)
	for j := range n {
		watches[j] = e.watch(j, s0.Revision)
	}
	spec := topicSpec("orders", 3, 1, 2, 3)
	spec.Partitions[1].ISR = []int32{spec.Partitions[1].Replicas[0]}
	spec.Partitions[2].Leader = metadata.NoLeader
	spec.Configs["retention.ms"] = "60000"
	tp := e.createTopic(n-1, spec)
	for j := range n {
		ev, rev, _ := watches[j].waitEvent(deliverWithin, "TopicCreated(orders)", func(ev metadata.Event) bool {
			return ev.Type == metadata.EventTopicCreated && ev.Topic.Name == "orders"
		})
		if rev != tp.CreatedAt {
			t.Errorf("node %d: TopicCreated delivered at revision %d, CreatedAt is %d", j, rev, tp.CreatedAt)
		}
		if !reflect.DeepEqual(canonTopic(ev.Topic), canonTopic(tp)) {
			t.Errorf("node %d: TopicCreated holds %+v, CreateTopic returned %+v", j, ev.Topic, tp)
		}
		bs, _, _ := watches[j].snapshotBatches()
		for _, b := range bs {
			if b.Revision == rev && len(b.Events) != 1 {
				t.Errorf("node %d: the creation of a topic is %d events at revision %d, want exactly the one TopicCreated: %s", j, len(b.Events), rev, describeBatch(b))
			}
		}
		got, ok := e.snapshot(j).Topics["orders"]
		if !ok || !reflect.DeepEqual(canonTopic(got), canonTopic(tp)) {
			t.Errorf("node %d: Snapshot has topic orders = %+v (present %v), CreateTopic returned %+v", j, got, ok, tp)
		}
	}
}

func checkTopicDelete(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	tp := e.createTopic(0, topicSpec("doomed", 2, 1, 2))
	keep := e.createTopic(0, topicSpec("kept", 1, 1))
	watches := make([]*collector, n)
	for j := range n {
		watches[j] = e.watch(j, tp.CreatedAt)
	}
	e.deleteTopic(n-1, "doomed")
	for j := range n {
		st := e.snapshot(j)
		if got, ok := st.Topics["doomed"]; ok {
			t.Errorf("node %d: deleted topic still in a later Snapshot: %+v", j, got)
		}
		if got, ok := st.Topics["kept"]; !ok || got.ID != keep.ID {
			t.Errorf("node %d: topic kept (not deleted) is %+v (present %v)", j, got, ok)
		}
		_, rev, _ := watches[j].waitEvent(deliverWithin, "TopicDeleted(doomed)", func(ev metadata.Event) bool {
			return ev.Type == metadata.EventTopicDeleted && ev.TopicName == "doomed"
		})
		if rev <= keep.CreatedAt {
			t.Errorf("node %d: TopicDeleted at revision %d, not after the earlier creation at %d", j, rev, keep.CreatedAt)
		}
	}
	again := e.createTopic(n-1, topicSpec("doomed", 1, 3))
	if again.CreatedAt <= tp.CreatedAt || again.ID == tp.ID {
		t.Errorf("re-created topic doomed has CreatedAt %d id %v; the deleted one had %d %v (want a later revision and the new id)", again.CreatedAt, again.ID, tp.CreatedAt, tp.ID)
	}
}

func checkTopicExists(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	spec := topicSpec("taken", 2, 1, 2)
	tp := e.createTopic(0, spec)
	for i := range n {
		ctx, cancel := e.call()
		_, err := e.node(i).CreateTopic(ctx, topicSpec("taken", 1, 3))
		expectErr(t, fmt.Sprintf("node %d: CreateTopic(taken) with another id", i), err, metadata.ErrTopicExists)
		_, err = e.node(i).CreateTopic(ctx, spec)
		expectErr(t, fmt.Sprintf("node %d: CreateTopic(taken) repeating the first spec", i), err, metadata.ErrTopicExists)
		cancel()
	}
	for j := range n {
		got := e.snapshot(j).Topics["taken"]
		if !reflect.DeepEqual(canonTopic(got), canonTopic(tp)) {
			t.Errorf("node %d: after rejected re-creations topic taken is %+v, want %+v", j, got, tp)
		}
	}
}

func checkTopicDeleteUnknown(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	e.createTopic(0, topicSpec("once", 1, 1))
	e.deleteTopic(0, "once")
	for i := range n {
		ctx, cancel := e.call()
		expectErr(t, fmt.Sprintf("node %d: DeleteTopic(never-existed)", i), e.node(i).DeleteTopic(ctx, "never-existed"), metadata.ErrUnknownTopic)
		expectErr(t, fmt.Sprintf("node %d: DeleteTopic(once) after it was deleted", i), e.node(i).DeleteTopic(ctx, "once"), metadata.ErrUnknownTopic)
		cancel()
	}
}

func checkTopicInvalid(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	good := func() metadata.TopicSpec { return topicSpec("bad", 2, 1, 2, 3) }
	cases := []struct {
		what string
		mod  func(*metadata.TopicSpec)
	}{
		{"empty name", func(s *metadata.TopicSpec) { s.Name = "" }},
		{"zero id", func(s *metadata.TopicSpec) { s.ID = metadata.TopicID{} }},
		{"no partitions", func(s *metadata.TopicSpec) { s.Partitions = nil }},
		{"a partition without replicas", func(s *metadata.TopicSpec) {
			s.Partitions[1] = metadata.PartitionSpec{Leader: metadata.NoLeader}
		}},
		{"duplicate replicas", func(s *metadata.TopicSpec) { s.Partitions[0].Replicas = []int32{1, 2, 1} }},
		{"a leader that is not a replica", func(s *metadata.TopicSpec) { s.Partitions[0].Leader = 9 }},
		{"an ISR member that is not a replica", func(s *metadata.TopicSpec) { s.Partitions[1].ISR = []int32{2, 9} }},
	}
	for k, c := range cases {
		i := k % n
		spec := good()
		c.mod(&spec)
		ctx, cancel := e.call()
		_, err := e.node(i).CreateTopic(ctx, spec)
		cancel()
		expectErr(t, fmt.Sprintf("node %d: CreateTopic with %s", i, c.what), err, metadata.ErrInvalid)
	}
	if st := e.snapshot(0); len(st.Topics) != 0 {
		t.Errorf("invalid CreateTopic calls created topics: %v", st.Topics)
	}
	e.createTopic(n-1, good())
}
