package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/memory"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// threeBrokers starts brokers 1-3 (racks as given, "" for none) on nodes of
// one store and waits until each sees all three.
func threeBrokers(t *testing.T, s *memory.Store, racks ...string) []*Cluster {
	t.Helper()
	var cs []*Cluster
	for i := range 3 {
		rack := ""
		if i < len(racks) {
			rack = racks[i]
		}
		cs = append(cs, startCluster(t, node(t, s, fmt.Sprintf("n%d", i+1)), int32(i+1), rack))
	}
	waitAllLive(t, cs)
	return cs
}

func waitAllLive(t *testing.T, cs []*Cluster) {
	t.Helper()
	waitReady(t, cs...)
	for _, c := range cs {
		eventually(t, waitTimeout, "every broker live", func() bool { return len(c.Image().LiveBrokers()) == len(cs) })
	}
}

func TestCreateTopicRefusesInvalidRequests(t *testing.T) {
	s := newStore(t, 0)
	cs := threeBrokers(t, s)
	c := cs[0]
	_, err := c.CreateTopic(testCtx(t), "taken.name", 1, 1, nil, nil)
	mustOK(t, err)
	cfg := testConfig(1, "")
	cfg.MaxPartitionsPerTopic = 100
	limited := startClusterCfg(t, node(t, s, "limited"), func() Config { cfg.BrokerID = 9; return cfg }())
	waitReady(t, limited)

	for _, tc := range []struct {
		name       string
		on         *Cluster
		topic      string
		partitions int32
		rf         int16
		assignment map[int32][]int32
		want       error
	}{
		{"empty name", c, "", 1, 1, nil, ErrInvalidTopic},
		{"dot", c, ".", 1, 1, nil, ErrInvalidTopic},
		{"dot dot", c, "..", 1, 1, nil, ErrInvalidTopic},
		{"250 characters", c, strings.Repeat("a", 250), 1, 1, nil, ErrInvalidTopic},
		{"space", c, "a b", 1, 1, nil, ErrInvalidTopic},
		{"non-ASCII", c, "ördrs", 1, 1, nil, ErrInvalidTopic},
		{"collides with taken.name", c, "taken_name", 1, 1, nil, ErrInvalidTopic},
		{"exists", c, "taken.name", 1, 1, nil, ErrTopicExists},
		{"exists (contract sentinel)", c, "taken.name", 1, 1, nil, metadata.ErrTopicExists},
		{"zero partitions", c, "t", 0, 1, nil, ErrInvalidPartitions},
		{"negative partitions", c, "t", -1, 1, nil, ErrInvalidPartitions},
		{"above the partition limit", limited, "t", 101, 1, nil, ErrInvalidPartitions},
		{"manual assignment above the limit", limited, "t", -1, -1, func() map[int32][]int32 {
			m := map[int32][]int32{}
			for p := range int32(101) {
				m[p] = []int32{1}
			}
			return m
		}(), ErrInvalidPartitions},
		{"zero replication factor", c, "t", 1, 0, nil, ErrInvalidReplicationFactor},
		{"negative replication factor", c, "t", 1, -1, nil, ErrInvalidReplicationFactor},
		{"replication factor above live brokers", c, "t", 1, 5, nil, ErrInvalidReplicationFactor},
		{"assignment with a partition count", c, "t", 2, -1, map[int32][]int32{0: {1}}, ErrInvalidRequest},
		{"assignment with a replication factor", c, "t", -1, 1, map[int32][]int32{0: {1}}, ErrInvalidRequest},
		{"assignment with a gap", c, "t", -1, -1, map[int32][]int32{0: {1}, 2: {2}}, ErrInvalidReplicaAssignment},
		{"assignment not from 0", c, "t", -1, -1, map[int32][]int32{1: {1}}, ErrInvalidReplicaAssignment},
		{"assignment with an empty list", c, "t", -1, -1, map[int32][]int32{0: {}}, ErrInvalidReplicaAssignment},
		{"assignment repeating a broker", c, "t", -1, -1, map[int32][]int32{0: {1, 1}}, ErrInvalidReplicaAssignment},
		{"assignment naming an unknown broker", c, "t", -1, -1, map[int32][]int32{0: {1, 7}}, ErrInvalidReplicaAssignment},
		{"assignment longer than the brokers", c, "t", -1, -1, map[int32][]int32{0: make([]int32, 1<<20)}, ErrInvalidReplicaAssignment},
		{"assignment with uneven lists", c, "t", -1, -1, map[int32][]int32{0: {1, 2}, 1: {3}}, ErrInvalidReplicaAssignment},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.on.CreateTopic(testCtx(t), tc.topic, tc.partitions, tc.rf, tc.assignment, nil)
			mustErr(t, err, tc.want)
			_, verr := tc.on.ValidateCreateTopic(testCtx(t), tc.topic, tc.partitions, tc.rf, tc.assignment, nil)
			mustErr(t, verr, tc.want)
		})
	}
	if names := c.Image().TopicNames(); !slices.Equal(names, []string{"taken.name"}) {
		t.Errorf("topics after refused requests: %v", names)
	}
}

func TestCreateTopicManualAssignment(t *testing.T) {
	s := newStore(t, 0)
	cs := threeBrokers(t, s)
	tp, err := cs[1].CreateTopic(testCtx(t), "manual", -1, -1, map[int32][]int32{0: {3, 1}, 1: {2, 3}, 2: {1, 2}}, nil)
	mustOK(t, err)
	want := [][]int32{{3, 1}, {2, 3}, {1, 2}}
	for p, part := range tp.Partitions {
		if !slices.Equal(part.Replicas, want[p]) || part.Leader != want[p][0] || !slices.Equal(part.ISR, want[p]) || part.LeaderEpoch != 0 {
			t.Errorf("partition %d: %+v, want replicas %v led by %d", p, part, want[p], want[p][0])
		}
	}
}

func TestValidateCreateTopicCreatesNothing(t *testing.T) {
	s := newStore(t, 0)
	cs := threeBrokers(t, s)
	rev := s.Revision()
	spec, err := cs[0].ValidateCreateTopic(testCtx(t), "dry", 6, 3, nil, map[string]string{"cleanup.policy": "delete"})
	mustOK(t, err)
	if len(spec.Partitions) != 6 || len(spec.Partitions[0].Replicas) != 3 || spec.Configs["cleanup.policy"] != "delete" || !spec.ID.IsZero() {
		t.Errorf("planned %+v", spec)
	}
	if s.Revision() != rev {
		t.Error("ValidateCreateTopic wrote to the backend")
	}
	if _, ok := cs[0].Image().Topic("dry"); ok {
		t.Error("ValidateCreateTopic created the topic")
	}
}

func TestConcurrentCreateOneWins(t *testing.T) {
	s := newStore(t, 0)
	cs := threeBrokers(t, s)
	for round := range 5 {
		name := fmt.Sprintf("race-%d", round)
		var wg sync.WaitGroup
		errs := make([]error, 2*len(cs))
		ids := make([]metadata.TopicID, len(errs))
		for i := range errs {
			wg.Go(func() {
				tp, err := cs[i%len(cs)].CreateTopic(testCtx(t), name, 3, 2, nil, nil)
				errs[i], ids[i] = err, tp.ID
			})
		}
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
				for _, c := range cs {
					eventually(t, waitTimeout, "the winner's topic everywhere", func() bool {
						got, ok := c.Image().Topic(name)
						return ok && got.ID == ids[i]
					})
				}
			case !errors.Is(err, ErrTopicExists):
				t.Errorf("round %d creator %d: %v", round, i, err)
			}
		}
		if wins != 1 {
			t.Errorf("round %d: %d creations succeeded, want 1", round, wins)
		}
	}
}

func TestCreateTopicRackAware(t *testing.T) {
	s := newStore(t, 0)
	racks := []string{"a", "b", "c", "a", "b", "c"}
	var cs []*Cluster
	for i, r := range racks {
		cs = append(cs, startCluster(t, node(t, s, fmt.Sprintf("n%d", i+1)), int32(i+1), r))
	}
	waitAllLive(t, cs)
	for _, rf := range []int16{2, 3} {
		tp, err := cs[0].CreateTopic(testCtx(t), fmt.Sprintf("racks-%d", rf), 12, rf, nil, nil)
		mustOK(t, err)
		leads := map[int32]int{}
		for _, p := range tp.Partitions {
			seen := map[string]bool{}
			for _, id := range p.Replicas {
				r := racks[id-1]
				if seen[r] {
					t.Errorf("rf %d partition %d: replicas %v share rack %s", rf, p.Partition, p.Replicas, r)
				}
				seen[r] = true
			}
			leads[p.Leader]++
		}
		for id := int32(1); id <= 6; id++ {
			if leads[id] != 2 {
				t.Errorf("rf %d: broker %d leads %d partitions, want 2 (%v)", rf, id, leads[id], leads)
			}
		}
	}
}

func TestCreateTopicSurvivesLostReply(t *testing.T) {
	for _, bare := range []bool{false, true} {
		t.Run(fmt.Sprintf("bare-exists=%v", bare), func(t *testing.T) {
			s := newStore(t, 0)
			f := newFault(t, s)
			f.bareExists.Store(bare)
			c := startCluster(t, f, 1, "")
			waitReady(t, c)
			f.lostReplies.Store(1)
			tp, err := c.CreateTopic(testCtx(t), "lost", 2, 1, nil, nil)
			mustOK(t, err)
			if got, ok := c.Image().Topic("lost"); !ok || got.ID != tp.ID {
				t.Errorf("image has %+v, %v; want id %v", got, ok, tp.ID)
			}
			// A different topic of the same name is still ErrTopicExists.
			_, err = c.CreateTopic(testCtx(t), "lost", 2, 1, nil, nil)
			mustErr(t, err, ErrTopicExists)

			f.lostReplies.Store(1)
			mustOK(t, c.DeleteTopic(testCtx(t), "lost"))
			if _, ok := c.Image().Topic("lost"); ok {
				t.Error("deleted topic still in the image")
			}
			mustErr(t, c.DeleteTopic(testCtx(t), "lost"), ErrUnknownTopic, metadata.ErrUnknownTopic)
		})
	}
}

func TestCreatePartitions(t *testing.T) {
	s := newStore(t, 0)
	cs := threeBrokers(t, s)
	c := cs[0]
	tp, err := c.CreateTopic(testCtx(t), "grow", 3, 2, nil, nil)
	mustOK(t, err)

	got, err := c.CreatePartitions(testCtx(t), "grow", 6, nil)
	mustOK(t, err)
	if len(got.Partitions) != 6 || got.ID != tp.ID {
		t.Fatalf("after growing to 6: %d partitions, id %v", len(got.Partitions), got.ID)
	}
	img := c.Image()
	leads := map[int32]int{}
	for p := range int32(6) {
		part, ok := img.Partition("grow", p)
		if !ok || len(part.Replicas) != 2 || part.Leader != part.Replicas[0] || part.Replicas[0] == part.Replicas[1] {
			t.Fatalf("partition %d: %+v, %v", p, part, ok)
		}
		if p < 3 && !slices.Equal(part.Replicas, tp.Partitions[p].Replicas) {
			t.Errorf("existing partition %d changed: %v", p, part.Replicas)
		}
		leads[part.Leader]++
	}
	if leads[1] != 2 || leads[2] != 2 || leads[3] != 2 {
		t.Errorf("leaders of 6 partitions over 3 brokers: %v", leads)
	}
	eventually(t, waitTimeout, "broker 3 sees 6 partitions", func() bool {
		tp, _ := cs[2].Image().Topic("grow")
		return len(tp.Partitions) == 6
	})

	got, err = cs[1].CreatePartitions(testCtx(t), "grow", 8, [][]int32{{3, 2}, {2, 1}})
	mustOK(t, err)
	if p := got.Partitions[7]; !slices.Equal(p.Replicas, []int32{2, 1}) || p.Leader != 2 {
		t.Errorf("manual partition 7: %+v", p)
	}

	for _, tc := range []struct {
		name       string
		topic      string
		total      int32
		assignment [][]int32
		want       error
	}{
		{"same count", "grow", 8, nil, ErrInvalidPartitions},
		{"fewer", "grow", 4, nil, ErrInvalidPartitions},
		{"above the limit", "grow", DefaultMaxPartitionsPerTopic + 1, nil, ErrInvalidPartitions},
		{"unknown topic", "nope", 4, nil, ErrUnknownTopic},
		{"too few lists", "grow", 10, [][]int32{{1, 2}}, ErrInvalidReplicaAssignment},
		{"wrong replication factor", "grow", 9, [][]int32{{1}}, ErrInvalidReplicaAssignment},
		{"unknown broker", "grow", 9, [][]int32{{1, 8}}, ErrInvalidReplicaAssignment},
		{"repeated broker", "grow", 9, [][]int32{{2, 2}}, ErrInvalidReplicaAssignment},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreatePartitions(testCtx(t), tc.topic, tc.total, tc.assignment)
			mustErr(t, err, tc.want)
			mustErr(t, c.ValidateCreatePartitions(testCtx(t), tc.topic, tc.total, tc.assignment), tc.want)
		})
	}
	rev := s.Revision()
	mustOK(t, c.ValidateCreatePartitions(testCtx(t), "grow", 12, nil))
	if s.Revision() != rev {
		t.Error("ValidateCreatePartitions wrote to the backend")
	}
	// Replication factor 3 needs 3 live brokers.
	_, err = c.CreateTopic(testCtx(t), "wide", 1, 3, nil, nil)
	mustOK(t, err)
	cs[2].abandon()
	eventually(t, testSession+time.Second, "broker 3 fenced", func() bool { return !c.Image().IsLive(3) })
	_, err = c.CreatePartitions(testCtx(t), "wide", 2, nil)
	mustErr(t, err, ErrInvalidReplicationFactor)
}

// TestCreatePartitionsRacesAnotherBroker: the count changes on another
// broker between this broker's validation and its write: the
// compare-and-set fails, the request is validated again against the fresh
// count and applied. A change made before the request is seen at once.
func TestCreatePartitionsRacesAnotherBroker(t *testing.T) {
	s := newStore(t, 0)
	f := newFault(t, node(t, s, "n1"))
	c1 := startCluster(t, f, 1, "")
	c2 := startCluster(t, node(t, s, "n2"), 2, "")
	waitAllLive(t, []*Cluster{c1, c2})
	_, err := c1.CreateTopic(testCtx(t), "t", 2, 1, nil, nil)
	mustOK(t, err)

	race := func() {
		if _, err := c2.CreatePartitions(testCtx(t), "t", 3, nil); err != nil {
			t.Errorf("broker 2 growing the topic: %v", err)
		}
	}
	f.beforeAdd.Store(&race)
	got, err := c1.CreatePartitions(testCtx(t), "t", 5, nil)
	mustOK(t, err)
	if len(got.Partitions) != 5 {
		t.Errorf("%d partitions, want 5", len(got.Partitions))
	}
	if n := f.addPartitions.Load(); n != 2 {
		t.Errorf("%d AddPartitions calls, want 2 (a stale one and a retry)", n)
	}

	// Broker 2 grows the topic; broker 1, asked right after, validates
	// against the new count even if its image had not caught up yet.
	_, err = c2.CreatePartitions(testCtx(t), "t", 6, nil)
	mustOK(t, err)
	_, err = c1.CreatePartitions(testCtx(t), "t", 6, nil)
	mustErr(t, err, ErrInvalidPartitions)
}

func TestCreatePartitionsSurvivesLostReply(t *testing.T) {
	s := newStore(t, 0)
	f := newFault(t, s)
	c := startCluster(t, f, 1, "")
	waitReady(t, c)
	_, err := c.CreateTopic(testCtx(t), "t", 1, 1, nil, nil)
	mustOK(t, err)
	f.lostReplies.Store(1)
	got, err := c.CreatePartitions(testCtx(t), "t", 3, nil)
	mustOK(t, err)
	if len(got.Partitions) != 3 {
		t.Errorf("%d partitions, want 3", len(got.Partitions))
	}
	if n := f.addPartitions.Load(); n != 2 {
		t.Errorf("%d AddPartitions calls, want 2 (one lost reply, one retry)", n)
	}
}

func TestTopicUpdatesNeedTheCapability(t *testing.T) {
	s := newStore(t, 0)
	c := startCluster(t, noUpdater{s}, 1, "")
	waitReady(t, c)
	_, err := c.CreateTopic(testCtx(t), "t", 1, 1, nil, nil)
	mustOK(t, err)
	_, err = c.CreatePartitions(testCtx(t), "t", 2, nil)
	mustErr(t, err, ErrUnsupported, metadata.ErrUnsupported)
	_, err = c.AlterTopicConfigs(testCtx(t), "t", setConfigs(map[string]string{"a": "b"}))
	mustErr(t, err, ErrUnsupported)
}

func TestAlterTopicConfigs(t *testing.T) {
	s := newStore(t, 0)
	c1 := startCluster(t, node(t, s, "n1"), 1, "")
	c2 := startCluster(t, node(t, s, "n2"), 2, "")
	waitAllLive(t, []*Cluster{c1, c2})
	tp, err := c1.CreateTopic(testCtx(t), "t", 1, 2, nil, map[string]string{"retention.ms": "1"})
	mustOK(t, err)
	want := map[string]string{"retention.ms": "2", "segment.bytes": "1048576"}
	got, err := c2.AlterTopicConfigs(testCtx(t), "t", setConfigs(want))
	mustOK(t, err)
	if !maps.Equal(got.Configs, want) || got.ID != tp.ID {
		t.Errorf("AlterTopicConfigs returned %+v", got)
	}
	if now, _ := c2.Image().Topic("t"); !maps.Equal(now.Configs, want) {
		t.Errorf("broker 2's image right after the change: %v", now.Configs)
	}
	eventually(t, waitTimeout, "broker 1 sees the configs", func() bool {
		now, _ := c1.Image().Topic("t")
		return maps.Equal(now.Configs, want)
	})
	_, err = c1.AlterTopicConfigs(testCtx(t), "nope", setConfigs(want))
	mustErr(t, err, ErrUnknownTopic)
}

// setConfigs is an AlterTopicConfigs change that replaces the configs.
func setConfigs(configs map[string]string) func(map[string]string) (map[string]string, error) {
	return func(map[string]string) (map[string]string, error) { return configs, nil }
}

// addConfig is an AlterTopicConfigs change that sets one key.
func addConfig(key, value string) func(map[string]string) (map[string]string, error) {
	return func(cur map[string]string) (map[string]string, error) {
		next := maps.Clone(cur)
		if next == nil {
			next = map[string]string{}
		}
		next[key] = value
		return next, nil
	}
}

// TestAlterTopicConfigsLosesNoConcurrentChange: many read-modify-writes of
// one topic's configs through two brokers at once each set their own key;
// every key is there at the end, on both brokers.
func TestAlterTopicConfigsLosesNoConcurrentChange(t *testing.T) {
	s := newStore(t, 0)
	c1 := startCluster(t, node(t, s, "n1"), 1, "")
	c2 := startCluster(t, node(t, s, "n2"), 2, "")
	waitAllLive(t, []*Cluster{c1, c2})
	_, err := c1.CreateTopic(testCtx(t), "t", 1, 2, nil, map[string]string{"base": "1"})
	mustOK(t, err)
	const writers = 16
	want := map[string]string{"base": "1"}
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		key := fmt.Sprintf("k%d", i)
		want[key] = "v"
		c := []*Cluster{c1, c2}[i%2]
		wg.Go(func() { _, errs[i] = c.AlterTopicConfigs(testCtx(t), "t", addConfig(key, "v")) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	st, err := s.Snapshot(testCtx(t))
	mustOK(t, err)
	if got := st.Topics["t"].Configs; !maps.Equal(got, want) {
		t.Fatalf("stored configs after %d concurrent changes: %v, want %v", writers, got, want)
	}
	for _, c := range []*Cluster{c1, c2} {
		mustOK(t, c.WaitRevision(testCtx(t), st.Revision))
		if now, _ := c.Image().Topic("t"); !maps.Equal(now.Configs, want) {
			t.Errorf("an image has configs %v, want %v", now.Configs, want)
		}
	}
}

// TestAlterTopicConfigsBehindImage: a change through a broker whose image
// does not have an earlier change yet (its watch is held) does not lose
// it: the compare-and-set on its stale image fails, and it retries once its
// image caught up.
func TestAlterTopicConfigsBehindImage(t *testing.T) {
	s := newStore(t, 0)
	c1 := startCluster(t, node(t, s, "n1"), 1, "")
	f := newFault(t, node(t, s, "n2"))
	c2 := startCluster(t, f, 2, "")
	waitAllLive(t, []*Cluster{c1, c2})
	_, err := c1.CreateTopic(testCtx(t), "t", 1, 2, nil, nil)
	mustOK(t, err)
	st, err := s.Snapshot(testCtx(t))
	mustOK(t, err)
	mustOK(t, c2.WaitRevision(testCtx(t), st.Revision))

	f.hold()
	_, err = c1.AlterTopicConfigs(testCtx(t), "t", addConfig("first", "1"))
	mustOK(t, err)
	if now, _ := c2.Image().Topic("t"); len(now.Configs) != 0 {
		t.Fatalf("broker 2's held image already has configs %v", now.Configs)
	}
	type reply struct {
		tp  metadata.Topic
		err error
	}
	done := make(chan reply, 1)
	go func() {
		tp, err := c2.AlterTopicConfigs(testCtx(t), "t", addConfig("second", "2"))
		done <- reply{tp, err}
	}()
	eventually(t, 5*time.Second, "broker 2 tries its stale compare-and-set", func() bool { return f.setConfigs.Load() >= 1 })
	f.unhold()
	r := <-done
	mustOK(t, r.err)
	want := map[string]string{"first": "1", "second": "2"}
	if !maps.Equal(r.tp.Configs, want) {
		t.Errorf("AlterTopicConfigs through broker 2 returned configs %v, want %v", r.tp.Configs, want)
	}
	if n := f.setConfigs.Load(); n != 2 {
		t.Errorf("%d SetTopicConfigs calls through broker 2, want 2 (a stale one and its retry)", n)
	}
	st, err = s.Snapshot(testCtx(t))
	mustOK(t, err)
	if got := st.Topics["t"].Configs; !maps.Equal(got, want) {
		t.Fatalf("stored configs: %v, want %v", got, want)
	}
}

// TestAlterTopicConfigsTopicNewerThanImage: a topic created through
// another broker a moment ago, not yet in this broker's image, is found by
// AlterTopicConfigs and ValidateAlterTopicConfigs (they look again after a
// barrier) instead of answering ErrUnknownTopic.
func TestAlterTopicConfigsTopicNewerThanImage(t *testing.T) {
	s := newStore(t, 0)
	c1 := startCluster(t, node(t, s, "n1"), 1, "")
	f := newFault(t, node(t, s, "n2"))
	c2 := startCluster(t, f, 2, "")
	waitAllLive(t, []*Cluster{c1, c2})

	f.hold()
	_, err := c1.CreateTopic(testCtx(t), "t", 1, 2, nil, map[string]string{"retention.ms": "1"})
	mustOK(t, err)
	if _, ok := c2.Image().Topic("t"); ok {
		t.Fatal("broker 2's held image already has the topic")
	}
	done := make(chan error, 2)
	var seen map[string]string
	snaps := f.snapshots.Load()
	go func() {
		done <- c2.ValidateAlterTopicConfigs(testCtx(t), "t", func(cur map[string]string) (map[string]string, error) {
			seen = maps.Clone(cur)
			return cur, nil
		})
	}()
	go func() {
		_, err := c2.AlterTopicConfigs(testCtx(t), "t", addConfig("second", "2"))
		done <- err
	}()
	eventually(t, 5*time.Second, "both calls look for the topic past broker 2's image", func() bool { return f.snapshots.Load() >= snaps+2 })
	f.unhold()
	mustOK(t, <-done)
	mustOK(t, <-done)
	if want := map[string]string{"retention.ms": "1"}; !maps.Equal(seen, want) && !maps.Equal(seen, map[string]string{"retention.ms": "1", "second": "2"}) {
		t.Errorf("ValidateAlterTopicConfigs ran the change on %v, want %v (or with second=2)", seen, want)
	}
	st, err := s.Snapshot(testCtx(t))
	mustOK(t, err)
	if got, want := st.Topics["t"].Configs, map[string]string{"retention.ms": "1", "second": "2"}; !maps.Equal(got, want) {
		t.Fatalf("stored configs: %v, want %v", got, want)
	}
	err = c2.ValidateAlterTopicConfigs(testCtx(t), "nope", setConfigs(nil))
	mustErr(t, err, ErrUnknownTopic)
}

// TestAlterTopicConfigsChangeError: an error of the change is returned as
// it is and nothing is written.
func TestAlterTopicConfigsChangeError(t *testing.T) {
	s := newStore(t, 0)
	c := startCluster(t, s, 1, "")
	waitReady(t, c)
	_, err := c.CreateTopic(testCtx(t), "t", 1, 1, nil, map[string]string{"a": "1"})
	mustOK(t, err)
	bad := errors.New("bad change")
	_, err = c.AlterTopicConfigs(testCtx(t), "t", func(map[string]string) (map[string]string, error) { return nil, bad })
	if !errors.Is(err, bad) {
		t.Fatalf("AlterTopicConfigs with a failing change: %v, want it", err)
	}
	st, err := s.Snapshot(testCtx(t))
	mustOK(t, err)
	if got := st.Topics["t"].Configs; !maps.Equal(got, map[string]string{"a": "1"}) {
		t.Fatalf("configs after a failed change: %v", got)
	}
}

func TestAdminAfterClose(t *testing.T) {
	s := newStore(t, 0)
	c := startCluster(t, s, 1, "")
	waitReady(t, c)
	mustOK(t, c.Close())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.CreateTopic(ctx, "late", 1, 1, nil, nil)
	mustErr(t, err, ErrClosed)
	mustErr(t, c.DeleteTopic(ctx, "late"), ErrClosed)
	_, err = c.CreatePartitions(ctx, "late", 2, nil)
	mustErr(t, err, ErrClosed)
	_, err = c.AlterTopicConfigs(ctx, "late", setConfigs(nil))
	mustErr(t, err, ErrClosed)
	st, err := s.Snapshot(ctx)
	mustOK(t, err)
	if len(st.Topics) != 0 {
		t.Errorf("topics written after Close: %v", slices.Collect(maps.Keys(st.Topics)))
	}
}

// TestCreateTopicImageBehind: a broker whose image is behind the backend
// (its watch held) plans a creation once more against a fresh image when
// its own refuses for what it holds, as Kafka's controller, which has
// every registration, would decide: a replication factor and a manual
// assignment naming a broker that registered since, validate_only too;
// and validate_only of a topic created through another broker meanwhile
// answers ErrTopicExists. TopicByID finds a topic that new as well.
func TestCreateTopicImageBehind(t *testing.T) {
	s := newStore(t, 0)
	f := newFault(t, node(t, s, "n1"))
	c1 := startCluster(t, f, 1, "")
	waitReady(t, c1)
	f.hold()
	c2 := startCluster(t, node(t, s, "n2"), 2, "")
	waitReady(t, c2)
	if got := liveIDs(c1.Image()); len(got) != 1 {
		t.Fatalf("broker 1's held image lists live brokers %v, want only itself", got)
	}

	// released runs calls on broker 1 (want Snapshots between them: each
	// looks past its image once), then lets the held image move and
	// returns their errors in order.
	released := func(want int32, calls ...func() error) []error {
		t.Helper()
		snaps := f.snapshots.Load()
		errs := make([]error, len(calls))
		var wg sync.WaitGroup
		for i, call := range calls {
			wg.Go(func() { errs[i] = call() })
		}
		eventually(t, 5*time.Second, "the calls look past broker 1's image", func() bool { return f.snapshots.Load() >= snaps+want })
		f.unhold()
		wg.Wait()
		return errs
	}
	for _, err := range released(3,
		func() error { _, err := c1.CreateTopic(testCtx(t), "rf2", 1, 2, nil, nil); return err },
		func() error {
			_, err := c1.CreateTopic(testCtx(t), "manual", -1, -1, map[int32][]int32{0: {2}}, nil)
			return err
		},
		func() error { _, err := c1.ValidateCreateTopic(testCtx(t), "rf2v", 1, 2, nil, nil); return err },
	) {
		mustOK(t, err)
	}
	st, err := s.Snapshot(testCtx(t))
	mustOK(t, err)
	if got := st.Topics["rf2"].Partitions; len(got) != 1 || len(got[0].Replicas) != 2 {
		t.Errorf("rf2 stored with partitions %+v, want one of 2 replicas", got)
	}
	if got := st.Topics["manual"].Partitions; len(got) != 1 || !slices.Equal(got[0].Replicas, []int32{2}) {
		t.Errorf("manual stored with partitions %+v, want replicas [2]", got)
	}

	f.hold()
	made, err := c2.CreateTopic(testCtx(t), "made", 1, 1, nil, nil)
	mustOK(t, err)
	if _, ok := c1.Image().Topic("made"); ok {
		t.Fatal("broker 1's held image already has the topic")
	}
	var found metadata.Topic
	var ok bool
	errs := released(2,
		func() error { _, err := c1.ValidateCreateTopic(testCtx(t), "made", 1, 1, nil, nil); return err },
		func() error {
			var err error
			found, ok, err = c1.TopicByID(testCtx(t), made.ID)
			return err
		},
	)
	mustErr(t, errs[0], ErrTopicExists)
	mustOK(t, errs[1])
	if !ok || found.Name != "made" {
		t.Errorf("TopicByID(%s) = %+v, %v", made.ID, found, ok)
	}
	if _, ok, err := c1.TopicByID(testCtx(t), randomUUID()); ok || err != nil {
		t.Errorf("TopicByID of an unknown id: ok %v, err %v", ok, err)
	}
}
