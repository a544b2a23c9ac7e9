package conformance

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func topicUpdateChecks() []Check {
	need := []metadata.Capability{metadata.CapTopicUpdates}
	return []Check{
		{
			Name:   "TopicUpdates/AddPartitions",
			Clause: "AddPartitions appends partitions numbered from the expected count in one change (TopicUpdated with the whole topic) seen by every node; the old partitions are untouched; a wrong expected count fails with ErrStaleEpoch, an unknown topic with ErrUnknownTopic, a bad spec with ErrInvalid",
			Needs:  need,
			Run:    checkAddPartitions,
		},
		{
			Name:   "TopicUpdates/SetConfigs",
			Clause: "SetTopicConfigs (expecting the current configs) replaces a topic's configs in one change (TopicUpdated) seen by every node; an unknown topic fails with ErrUnknownTopic",
			Needs:  need,
			Run:    checkSetTopicConfigs,
		},
		{
			Name:   "TopicUpdates/SetConfigsCompareAndSet",
			Clause: "SetTopicConfigs is a compare-and-set on the topic's configs (nil and empty expected alike): a stale expectation fails with ErrStaleEpoch and changes nothing on any node; of many concurrent calls across nodes with the same expectation exactly one succeeds, the others fail with ErrStaleEpoch",
			Needs:  need,
			Run:    checkSetTopicConfigsCAS,
		},
	}
}

// updater returns node i as a metadata.TopicUpdater or fails the check.
func (e *env) updater(i int) metadata.TopicUpdater {
	e.t.Helper()
	u, ok := e.node(i).(metadata.TopicUpdater)
	if !ok {
		e.t.Fatalf("node %d (%T) declares %q but does not implement metadata.TopicUpdater", i, e.node(i), metadata.CapTopicUpdates)
	}
	return u
}

// waitTopicUpdate waits for every watch to deliver a TopicUpdated of name and
// checks it against want, and every node's Snapshot too.
func (e *env) waitTopicUpdate(watches []*collector, name string, want metadata.Topic) {
	e.t.Helper()
	for j, w := range watches {
		ev, _, _ := w.waitEvent(deliverWithin, "TopicUpdated("+name+")", func(ev metadata.Event) bool {
			return ev.Type == metadata.EventTopicUpdated && ev.Topic.Name == name &&
				reflect.DeepEqual(canonTopic(ev.Topic), canonTopic(want))
		})
		if ev.Type != metadata.EventTopicUpdated {
			continue // waitEvent reported the failure
		}
		got := e.snapshot(j).Topics[name]
		if !reflect.DeepEqual(canonTopic(got), canonTopic(want)) {
			e.t.Errorf("node %d: Snapshot has %+v, the update returned %+v", j, got, want)
		}
	}
}

func checkAddPartitions(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	before := e.createTopic(0, topicSpec("growing", 2, 1, 2))
	from := e.snapshot(0).Revision
	watches := make([]*collector, n)
	for j := range n {
		watches[j] = e.watch(j, from)
	}
	ctx, cancel := e.call()
	defer cancel()
	add := []metadata.PartitionSpec{
		{Replicas: []int32{2, 1}, Leader: 2},
		{Replicas: []int32{1}, Leader: metadata.NoLeader, ISR: []int32{1}},
	}
	got, err := e.updater(n-1).AddPartitions(ctx, "growing", 2, add)
	if err != nil {
		t.Fatalf("node %d: AddPartitions(growing, 2, 2 new): %v", n-1, err)
	}
	if len(got.Partitions) != 4 || got.ID != before.ID || got.CreatedAt != before.CreatedAt {
		t.Fatalf("AddPartitions returned %+v; want 4 partitions, the same id and creation revision as %+v", got, before)
	}
	for i, p := range before.Partitions {
		if !reflect.DeepEqual(canonPartition(got.Partitions[i]), canonPartition(p)) {
			t.Errorf("partition %d changed: %+v, was %+v", i, got.Partitions[i], p)
		}
	}
	p2, p3 := got.Partitions[2], got.Partitions[3]
	if p2.Partition != 2 || p2.Leader != 2 || !reflect.DeepEqual(p2.Replicas, []int32{2, 1}) || len(p2.ISR) != 2 || p2.LeaderEpoch != 0 || p2.PartitionEpoch != 0 {
		t.Errorf("new partition 2 = %+v; want replicas [2 1], leader 2, ISR = all replicas, epochs 0", p2)
	}
	if p3.Partition != 3 || p3.Leader != metadata.NoLeader || !reflect.DeepEqual(p3.ISR, []int32{1}) {
		t.Errorf("new partition 3 = %+v; want leader none, ISR [1]", p3)
	}
	e.waitTopicUpdate(watches, "growing", got)

	for _, tc := range []struct {
		what  string
		topic string
		count int32
		parts []metadata.PartitionSpec
		want  error
	}{
		{"a stale expected count", "growing", 2, add, metadata.ErrStaleEpoch},
		{"an unknown topic", "nope", 0, add, metadata.ErrUnknownTopic},
		{"no partitions", "growing", 4, nil, metadata.ErrInvalid},
		{"a leader that is not a replica", "growing", 4, []metadata.PartitionSpec{{Replicas: []int32{1}, Leader: 7}}, metadata.ErrInvalid},
		{"duplicate replicas", "growing", 4, []metadata.PartitionSpec{{Replicas: []int32{1, 1}, Leader: 1}}, metadata.ErrInvalid},
	} {
		for j := range n {
			ctx, cancel := e.call()
			_, err := e.updater(j).AddPartitions(ctx, tc.topic, tc.count, tc.parts)
			cancel()
			if !errors.Is(err, tc.want) {
				t.Errorf("node %d: AddPartitions with %s: %v, want %v", j, tc.what, err, tc.want)
			}
		}
	}
	if got2 := e.snapshot(0).Topics["growing"]; len(got2.Partitions) != 4 {
		t.Errorf("failed AddPartitions calls changed the topic: %d partitions", len(got2.Partitions))
	}
}

func checkSetTopicConfigs(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	before := e.createTopic(0, topicSpec("tuned", 1, 1))
	from := e.snapshot(0).Revision
	watches := make([]*collector, n)
	for j := range n {
		watches[j] = e.watch(j, from)
	}
	want := map[string]string{"retention.ms": "1000", "segment.bytes": "1048576"}
	ctx, cancel := e.call()
	defer cancel()
	got, err := e.updater(n-1).SetTopicConfigs(ctx, "tuned", before.Configs, want)
	if err != nil {
		t.Fatalf("node %d: SetTopicConfigs: %v", n-1, err)
	}
	if !maps.Equal(got.Configs, want) || got.ID != before.ID || len(got.Partitions) != 1 {
		t.Fatalf("SetTopicConfigs returned %+v; want configs %v and the topic otherwise unchanged", got, want)
	}
	e.waitTopicUpdate(watches, "tuned", got)

	// Clearing removes every config (the old cleanup.policy included).
	cleared, err := e.updater(0).SetTopicConfigs(ctx, "tuned", want, nil)
	if err != nil || len(cleared.Configs) != 0 {
		t.Fatalf("SetTopicConfigs(nil) = %+v, %v; want no configs", cleared, err)
	}
	e.waitTopicUpdate(watches, "tuned", cleared)
	for j := range n {
		if _, err := e.updater(j).SetTopicConfigs(ctx, "nope", nil, want); !errors.Is(err, metadata.ErrUnknownTopic) {
			t.Errorf("node %d: SetTopicConfigs of an unknown topic: %v, want ErrUnknownTopic", j, err)
		}
	}
}

func checkSetTopicConfigsCAS(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	before := e.createTopic(0, topicSpec("cas", 1, 1)) // configs {cleanup.policy: delete}
	want := map[string]string{"retention.ms": "1000"}
	ctx, cancel := e.call()
	defer cancel()
	got, err := e.updater(0).SetTopicConfigs(ctx, "cas", before.Configs, want)
	if err != nil || !maps.Equal(got.Configs, want) {
		t.Fatalf("SetTopicConfigs expecting the current configs = %+v, %v; want configs %v", got, err, want)
	}

	// Stale expectations, from every node: the configs before the change,
	// none (nil and empty), a subset and a superset of the current ones.
	stale := []map[string]string{
		before.Configs, nil, {}, {"retention.ms": "2000"},
		{"retention.ms": "1000", "cleanup.policy": "delete"},
	}
	for j := range n {
		for _, exp := range stale {
			ctx, cancel := e.call()
			_, err := e.updater(j).SetTopicConfigs(ctx, "cas", exp, map[string]string{"segment.bytes": "1"})
			cancel()
			if !errors.Is(err, metadata.ErrStaleEpoch) {
				t.Errorf("node %d: SetTopicConfigs expecting %v (the topic has %v): %v, want ErrStaleEpoch", j, exp, want, err)
			}
		}
	}
	for j := range n {
		if cur := e.snapshot(j).Topics["cas"]; !maps.Equal(cur.Configs, want) {
			t.Errorf("node %d: configs after refused SetTopicConfigs calls: %v, want %v", j, cur.Configs, want)
		}
	}

	// An empty expectation matches a topic without configs.
	if _, err := e.updater(n-1).SetTopicConfigs(ctx, "cas", want, nil); err != nil {
		t.Fatalf("clearing the configs: %v", err)
	}
	if _, err := e.updater(0).SetTopicConfigs(ctx, "cas", map[string]string{}, want); err != nil {
		t.Fatalf("SetTopicConfigs expecting {} on a topic without configs: %v", err)
	}

	// Concurrent writers across nodes with the same expectation.
	workers := max(4*n, 8)
	const rounds = 3
	cur := want
	for r := range rounds {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []map[string]string
			errs    errorsOf
		)
		gate := make(chan struct{})
		for w := range workers {
			next := maps.Clone(cur)
			next[fmt.Sprintf("writer.%d", w)] = fmt.Sprint(r)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := e.call()
				defer cancel()
				<-gate
				tp, err := e.updater(w%n).SetTopicConfigs(ctx, "cas", cur, next)
				switch {
				case err == nil:
					if !maps.Equal(tp.Configs, next) {
						errs.add("round %d, worker %d: SetTopicConfigs returned configs %v, it set %v", r, w, tp.Configs, next)
					}
					mu.Lock()
					winners = append(winners, next)
					mu.Unlock()
				case errors.Is(err, metadata.ErrStaleEpoch):
				default:
					errs.add("round %d, worker %d (node %d): SetTopicConfigs: %v, want success or ErrStaleEpoch", r, w, w%n, err)
				}
			}()
		}
		close(gate)
		wg.Wait()
		errs.report(t)
		if len(winners) != 1 {
			t.Fatalf("round %d: %d of %d concurrent SetTopicConfigs with the same expectation succeeded, want exactly 1", r, len(winners), workers)
		}
		for j := range n {
			if got := e.snapshot(j).Topics["cas"].Configs; !maps.Equal(got, winners[0]) {
				t.Errorf("round %d: node %d has configs %v, the winner set %v", r, j, got, winners[0])
			}
		}
		cur = winners[0]
	}
}
