package conformance

import (
	"fmt"
	"reflect"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func partitionChecks() []Check {
	return []Check{
		{
			Name:   "Partition/EpochBumps",
			Clause: "AlterPartition bumps PartitionEpoch by one on every change and LeaderEpoch by one exactly when the leader changes (also to and from NoLeader); each change is one PartitionChanged event",
			Run:    checkPartitionEpochs,
		},
		{
			Name:   "Partition/Reassignment",
			Clause: "AlterPartition with Replicas replaces the assignment, under the same compare-and-set and epoch rules",
			Run:    checkPartitionReassign,
		},
		{
			Name:   "Partition/ReassignmentState",
			Clause: "Adding and Removing set together with Replicas are seen on every node, kept by changes that leave Replicas nil, cleared by a change that sets Replicas without them; ones that are not distinct, disjoint subsets of the new replicas, or come without Replicas, fail with ErrInvalid and change nothing",
			Run:    checkPartitionReassignState,
		},
		{
			Name:   "Partition/StaleExpectedEpochRejected",
			Clause: "AlterPartition with an expected epoch other than the current fails with ErrStaleEpoch and changes nothing",
			Run:    checkPartitionStale,
		},
		{
			Name:   "Partition/UnknownTopicOrPartitionRejected",
			Clause: "AlterPartition of an unknown topic or a partition index out of range fails with ErrUnknownTopic",
			Run:    checkPartitionUnknown,
		},
		{
			Name:   "Partition/InvalidLeaderOrISRRejected",
			Clause: "AlterPartition with a leader or ISR member that is not a replica fails with ErrInvalid and changes nothing",
			Run:    checkPartitionInvalid,
		},
	}
}

func samePartition(a, b metadata.Partition) bool {
	return reflect.DeepEqual(canonPartition(a), canonPartition(b))
}

func checkPartitionEpochs(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	tp := e.createTopic(0, topicSpec("epochs", 2, 1, 2, 3))
	w := e.watch(n-1, tp.CreatedAt)
	cur := tp.Partitions[0]
	steps := []struct {
		what      string
		leader    int32
		isr       []int32
		newLeader bool
	}{
		{"ISR shrink, same leader", cur.Leader, []int32{cur.Leader, 2}, false},
		{"leader change", 2, []int32{1, 2}, true},
		{"ISR expand, same leader", 2, []int32{1, 2, 3}, false},
		{"leader to NoLeader", metadata.NoLeader, []int32{3}, true},
		{"NoLeader to a leader", 3, []int32{3}, true},
		{"same leader and ISR again", 3, []int32{3}, false},
	}
	for k, s := range steps {
		p := e.alter(k%n, metadata.PartitionChange{Topic: "epochs", Partition: 0, ExpectedPartitionEpoch: cur.PartitionEpoch, Leader: s.leader, ISR: s.isr})
		wantLE := cur.LeaderEpoch
		if s.newLeader {
			wantLE++
		}
		want := metadata.Partition{Topic: "epochs", Partition: 0, Replicas: cur.Replicas, Leader: s.leader, LeaderEpoch: wantLE, ISR: s.isr, PartitionEpoch: cur.PartitionEpoch + 1}
		if !samePartition(p, want) {
			t.Errorf("step %d (%s) on node %d: AlterPartition returned %+v, want %+v", k, s.what, k%n, p, want)
		}
		for j := range n {
			if got := e.snapshot(j).Topics["epochs"].Partitions[0]; !samePartition(got, p) {
				t.Errorf("step %d (%s): node %d has %+v, AlterPartition returned %+v", k, s.what, j, got, p)
			}
		}
		ev, _, _ := w.waitEvent(deliverWithin, fmt.Sprintf("PartitionChanged epochs/0 epoch %d", p.PartitionEpoch), func(ev metadata.Event) bool {
			return ev.Type == metadata.EventPartitionChanged && ev.Partition.Topic == "epochs" && ev.Partition.PartitionEpoch == p.PartitionEpoch
		})
		if !samePartition(ev.Partition, p) {
			t.Errorf("step %d (%s): PartitionChanged holds %+v, AlterPartition returned %+v", k, s.what, ev.Partition, p)
		}
		cur = p
	}
	if got := e.snapshot(0).Topics["epochs"].Partitions[1]; !samePartition(got, tp.Partitions[1]) {
		t.Errorf("changes of partition 0 altered partition 1: %+v, created as %+v", got, tp.Partitions[1])
	}
	m := e.marker(0)
	changes := 0
	for _, b := range w.until(m, deliverWithin) {
		for _, ev := range b.Events {
			if ev.Type == metadata.EventPartitionChanged {
				changes++
			}
		}
		if len(b.Events) != 1 {
			t.Errorf("revision %d has %d events for one AlterPartition: %s", b.Revision, len(b.Events), describeBatch(b))
		}
	}
	if changes != len(steps) {
		t.Errorf("%d AlterPartition calls produced %d PartitionChanged events", len(steps), changes)
	}
}

func checkPartitionReassign(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	tp := e.createTopic(0, topicSpec("moving", 1, 1, 2, 3))
	cur := tp.Partitions[0]
	p := e.alter(n-1, metadata.PartitionChange{Topic: "moving", Partition: 0, ExpectedPartitionEpoch: cur.PartitionEpoch,
		Replicas: []int32{2, 3, 4}, Leader: 4, ISR: []int32{2, 3, 4}})
	want := metadata.Partition{Topic: "moving", Partition: 0, Replicas: []int32{2, 3, 4}, Leader: 4, LeaderEpoch: cur.LeaderEpoch + 1, ISR: []int32{2, 3, 4}, PartitionEpoch: cur.PartitionEpoch + 1}
	if !samePartition(p, want) {
		t.Errorf("reassignment returned %+v, want %+v", p, want)
	}
	for j := range n {
		if got := e.snapshot(j).Topics["moving"].Partitions[0]; !samePartition(got, p) {
			t.Errorf("node %d has %+v after reassignment, AlterPartition returned %+v", j, got, p)
		}
	}
	// Without Replicas the assignment stays: broker 1 is no longer a replica.
	ctx, cancel := e.call()
	defer cancel()
	_, err := e.node(0).AlterPartition(ctx, metadata.PartitionChange{Topic: "moving", Partition: 0, ExpectedPartitionEpoch: p.PartitionEpoch, Leader: 1, ISR: []int32{1}})
	expectErr(t, "AlterPartition making broker 1 (removed by the reassignment) leader", err, metadata.ErrInvalid)
	// A leader outside the new replicas.
	_, err = e.node(0).AlterPartition(ctx, metadata.PartitionChange{Topic: "moving", Partition: 0, ExpectedPartitionEpoch: p.PartitionEpoch, Replicas: []int32{5, 6}, Leader: 2, ISR: []int32{5, 6}})
	expectErr(t, "AlterPartition reassigning to [5 6] with leader 2", err, metadata.ErrInvalid)
	p2 := e.alter(0, metadata.PartitionChange{Topic: "moving", Partition: 0, ExpectedPartitionEpoch: p.PartitionEpoch, Leader: 4, ISR: []int32{4}})
	if !reflect.DeepEqual(p2.Replicas, p.Replicas) || p2.LeaderEpoch != p.LeaderEpoch || p2.PartitionEpoch != p.PartitionEpoch+1 {
		t.Errorf("ISR change without Replicas returned %+v; want replicas %v kept, leader epoch %d, partition epoch %d", p2, p.Replicas, p.LeaderEpoch, p.PartitionEpoch+1)
	}
}

func checkPartitionStale(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	tp := e.createTopic(0, topicSpec("stale", 1, 1, 2, 3))
	p := e.alter(0, metadata.PartitionChange{Topic: "stale", Partition: 0, ExpectedPartitionEpoch: tp.Partitions[0].PartitionEpoch, Leader: 2, ISR: []int32{1, 2, 3}})
	for i := range n {
		for _, exp := range []int32{p.PartitionEpoch - 1, p.PartitionEpoch + 1, p.PartitionEpoch + 100} {
			ctx, cancel := e.call()
			_, err := e.node(i).AlterPartition(ctx, metadata.PartitionChange{Topic: "stale", Partition: 0, ExpectedPartitionEpoch: exp, Leader: 3, ISR: []int32{3}})
			cancel()
			expectErr(t, fmt.Sprintf("node %d: AlterPartition expecting epoch %d (current %d)", i, exp, p.PartitionEpoch), err, metadata.ErrStaleEpoch)
		}
	}
	for j := range n {
		if got := e.snapshot(j).Topics["stale"].Partitions[0]; !samePartition(got, p) {
			t.Errorf("node %d: rejected changes altered the partition: %+v, want %+v", j, got, p)
		}
	}
}

func checkPartitionUnknown(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	e.createTopic(0, topicSpec("known", 2, 1, 2))
	e.createTopic(0, topicSpec("gone", 1, 1))
	e.deleteTopic(0, "gone")
	cases := []metadata.PartitionChange{
		{Topic: "nope", Partition: 0, Leader: 1, ISR: []int32{1}},
		{Topic: "gone", Partition: 0, Leader: 1, ISR: []int32{1}},
		{Topic: "known", Partition: 2, Leader: 1, ISR: []int32{1}},
		{Topic: "known", Partition: -1, Leader: 1, ISR: []int32{1}},
	}
	for i := range n {
		for _, c := range cases {
			ctx, cancel := e.call()
			_, err := e.node(i).AlterPartition(ctx, c)
			cancel()
			expectErr(t, fmt.Sprintf("node %d: AlterPartition(%s/%d)", i, c.Topic, c.Partition), err, metadata.ErrUnknownTopic)
		}
	}
}

func checkPartitionInvalid(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	tp := e.createTopic(0, topicSpec("strict", 1, 1, 2, 3))
	cur := tp.Partitions[0]
	cases := []struct {
		what   string
		leader int32
		isr    []int32
	}{
		{"a leader that is not a replica", 7, []int32{1, 2, 3}},
		{"an ISR member that is not a replica", 1, []int32{1, 7}},
	}
	for i := range n {
		for _, c := range cases {
			ctx, cancel := e.call()
			_, err := e.node(i).AlterPartition(ctx, metadata.PartitionChange{Topic: "strict", Partition: 0, ExpectedPartitionEpoch: cur.PartitionEpoch, Leader: c.leader, ISR: c.isr})
			cancel()
			expectErr(t, fmt.Sprintf("node %d: AlterPartition with %s", i, c.what), err, metadata.ErrInvalid)
		}
	}
	for j := range n {
		if got := e.snapshot(j).Topics["strict"].Partitions[0]; !samePartition(got, cur) {
			t.Errorf("node %d: rejected changes altered the partition: %+v, want %+v", j, got, cur)
		}
	}
}

func checkPartitionReassignState(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	tp := e.createTopic(0, topicSpec("moving", 1, 1, 2, 3))
	cur := tp.Partitions[0]
	seenEverywhere := func(what string, want metadata.Partition) {
		for j := range n {
			if got := e.snapshot(j).Topics["moving"].Partitions[0]; !samePartition(got, want) {
				t.Errorf("%s: node %d has %+v, want %+v", what, j, got, want)
			}
		}
	}
	// Start moving from [1 2 3] to [4 2 3]: replicas [4 2 3 1], adding [4], removing [1].
	p := e.alter(n-1, metadata.PartitionChange{Topic: "moving", Partition: 0, ExpectedPartitionEpoch: cur.PartitionEpoch,
		Replicas: []int32{4, 2, 3, 1}, Adding: []int32{4}, Removing: []int32{1}, Leader: cur.Leader, ISR: []int32{1, 2, 3}})
	want := metadata.Partition{Topic: "moving", Partition: 0, Replicas: []int32{4, 2, 3, 1}, Adding: []int32{4}, Removing: []int32{1},
		Leader: cur.Leader, LeaderEpoch: cur.LeaderEpoch, ISR: []int32{1, 2, 3}, PartitionEpoch: cur.PartitionEpoch + 1}
	if !samePartition(p, want) {
		t.Errorf("starting a reassignment returned %+v, want %+v", p, want)
	}
	seenEverywhere("after starting a reassignment", p)
	// Invalid ones change nothing.
	ctx, cancel := e.call()
	defer cancel()
	for _, bad := range []struct {
		what string
		ch   metadata.PartitionChange
	}{
		{"adding a broker that is not a replica", metadata.PartitionChange{Replicas: []int32{4, 2, 3, 1}, Adding: []int32{5}}},
		{"removing a broker that is not a replica", metadata.PartitionChange{Replicas: []int32{4, 2, 3, 1}, Removing: []int32{5}}},
		{"a replica both adding and removing", metadata.PartitionChange{Replicas: []int32{4, 2, 3, 1}, Adding: []int32{4}, Removing: []int32{4}}},
		{"duplicate adding replicas", metadata.PartitionChange{Replicas: []int32{4, 2, 3, 1}, Adding: []int32{4, 4}}},
		{"duplicate removing replicas", metadata.PartitionChange{Replicas: []int32{4, 2, 3, 1}, Removing: []int32{1, 1}}},
		{"adding without Replicas", metadata.PartitionChange{Adding: []int32{4}}},
		{"removing without Replicas", metadata.PartitionChange{Removing: []int32{1}}},
	} {
		ch := bad.ch
		ch.Topic, ch.Partition, ch.ExpectedPartitionEpoch, ch.Leader, ch.ISR = "moving", 0, p.PartitionEpoch, p.Leader, []int32{1, 2, 3}
		_, err := e.node(0).AlterPartition(ctx, ch)
		expectErr(t, "AlterPartition with "+bad.what, err, metadata.ErrInvalid)
	}
	seenEverywhere("after invalid reassignment changes", p)
	// An ISR change (Replicas nil) keeps the reassignment.
	p2 := e.alter(0, metadata.PartitionChange{Topic: "moving", Partition: 0, ExpectedPartitionEpoch: p.PartitionEpoch, Leader: p.Leader, ISR: []int32{1, 2, 3, 4}})
	want = p.Clone()
	want.ISR, want.PartitionEpoch = []int32{1, 2, 3, 4}, p.PartitionEpoch+1
	if !samePartition(p2, want) {
		t.Errorf("ISR change during a reassignment returned %+v, want %+v", p2, want)
	}
	// A leader change (Replicas nil) keeps it too.
	p3 := e.alter(n-1, metadata.PartitionChange{Topic: "moving", Partition: 0, ExpectedPartitionEpoch: p2.PartitionEpoch, Leader: 4, ISR: []int32{1, 2, 3, 4}})
	want = p2.Clone()
	want.Leader, want.LeaderEpoch, want.PartitionEpoch = 4, p2.LeaderEpoch+1, p2.PartitionEpoch+1
	if !samePartition(p3, want) {
		t.Errorf("leader change during a reassignment returned %+v, want %+v", p3, want)
	}
	seenEverywhere("after ISR and leader changes during a reassignment", p3)
	// Completing: Replicas without Adding/Removing clears them.
	p4 := e.alter(0, metadata.PartitionChange{Topic: "moving", Partition: 0, ExpectedPartitionEpoch: p3.PartitionEpoch, Replicas: []int32{4, 2, 3}, Leader: 4, ISR: []int32{2, 3, 4}})
	want = metadata.Partition{Topic: "moving", Partition: 0, Replicas: []int32{4, 2, 3}, Leader: 4, LeaderEpoch: p3.LeaderEpoch, ISR: []int32{2, 3, 4}, PartitionEpoch: p3.PartitionEpoch + 1}
	if !samePartition(p4, want) {
		t.Errorf("completing the reassignment returned %+v, want %+v (no adding/removing)", p4, want)
	}
	seenEverywhere("after completing the reassignment", p4)
}
