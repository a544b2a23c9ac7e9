package conformance

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// The suite's self-test: each broken harness below wraps MemoryHarness with
// one defect, and the checks relevant to it are run through a Runner (the
// CLI's T). Exactly the checks that target the defect must fail; the others
// in the selection, and all of them on the unbroken harness, must pass.

// base forwards everything to the wrapped node, Compact included.
type base struct{ metadata.Backend }

func (b base) Compact(ctx context.Context, rev metadata.Revision) error {
	c, ok := b.Backend.(metadata.Compactor)
	if !ok {
		return fmt.Errorf("compact: %w", metadata.ErrUnsupported)
	}
	return c.Compact(ctx, rev)
}

// brokenHarness wraps every node of inner's clusters with wrap.
type brokenHarness struct {
	inner Harness
	name  string
	// wrap returns the broken view of node i. g owns any goroutine the
	// wrapper starts; it is stopped before the inner cluster.
	wrap func(g *group, opts Options, i int, b metadata.Backend) metadata.Backend
}

func (h brokenHarness) Name() string                        { return h.inner.Name() + "/" + h.name }
func (h brokenHarness) Capabilities() []metadata.Capability { return h.inner.Capabilities() }

func (h brokenHarness) Start(t T, opts Options) Cluster {
	c := h.inner.Start(t, opts)
	ctx, cancel := context.WithCancel(context.Background())
	g := &group{ctx: ctx}
	t.Cleanup(func() {
		cancel()
		g.wg.Wait()
	})
	return &brokenCluster{Cluster: c, h: h, g: g, opts: opts, views: map[metadata.Backend]metadata.Backend{}}
}

// group owns the goroutines of a broken cluster.
type group struct {
	ctx context.Context
	wg  sync.WaitGroup
}

func (g *group) Go(f func(ctx context.Context)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(g.ctx)
	}()
}

type brokenCluster struct {
	Cluster
	h    brokenHarness
	g    *group
	opts Options

	mu    sync.Mutex
	views map[metadata.Backend]metadata.Backend // inner node -> its broken view
}

func (c *brokenCluster) Node(i int) metadata.Backend {
	inner := c.Cluster.Node(i)
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.views[inner]
	if !ok {
		v = c.h.wrap(c.g, c.opts, i, inner)
		c.views[inner] = v
	}
	return v
}

// dropWatch loses every 5th batch of every stream.
type dropWatch struct{ base }

func (d dropWatch) Watch(ctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, error) {
	in, err := d.Backend.Watch(ctx, from)
	if err != nil {
		return nil, err
	}
	out := make(chan metadata.WatchBatch)
	go func() { // ends when the inner stream closes (its ctx ended)
		defer close(out)
		k := 0
		for b := range in {
			if k++; k%5 == 0 && b.Err == nil {
				continue
			}
			select {
			case out <- b:
			case <-ctx.Done():
			}
		}
	}()
	return out, nil
}

// dupWatch delivers every 7th batch of every stream twice.
type dupWatch struct{ base }

func (d dupWatch) Watch(ctx context.Context, from metadata.Revision) (<-chan metadata.WatchBatch, error) {
	in, err := d.Backend.Watch(ctx, from)
	if err != nil {
		return nil, err
	}
	out := make(chan metadata.WatchBatch)
	go func() { // ends when the inner stream closes (its ctx ended)
		defer close(out)
		k := 0
		for b := range in {
			times := 1
			if k++; k%7 == 0 && b.Err == nil {
				times = 2
			}
			for range times {
				select {
				case out <- b:
				case <-ctx.Done():
				}
			}
		}
	}()
	return out, nil
}

// neverFence keeps every broker it registered alive by heartbeating it
// itself, so no session ever expires.
type neverFence struct {
	base
	g        *group
	interval time.Duration
}

func (n neverFence) RegisterBroker(ctx context.Context, reg metadata.BrokerRegistration) (metadata.Broker, error) {
	b, err := n.Backend.RegisterBroker(ctx, reg)
	if err != nil {
		return b, err
	}
	n.g.Go(func(ctx context.Context) {
		tick := time.NewTicker(n.interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if _, err := n.Backend.Heartbeat(ctx, b.ID, b.Epoch); err != nil {
				return // unregistered or superseded
			}
		}
	})
	return b, nil
}

// staleSnapshot answers every Snapshot on a node other than 0 with the
// state its previous Snapshot call saw.
type staleSnapshot struct {
	base
	mu   *sync.Mutex
	prev *metadata.State
}

func (s staleSnapshot) Snapshot(ctx context.Context) (metadata.State, error) {
	st, err := s.Backend.Snapshot(ctx)
	if err != nil {
		return st, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.prev
	*s.prev = st
	if old.Brokers == nil {
		return st, nil
	}
	return old, nil
}

// blindCAS ignores the expected partition epoch: on ErrStaleEpoch it reads
// the current epoch and applies the change anyway.
type blindCAS struct{ base }

func (b blindCAS) AlterPartition(ctx context.Context, ch metadata.PartitionChange) (metadata.Partition, error) {
	p, err := b.Backend.AlterPartition(ctx, ch)
	for errors.Is(err, metadata.ErrStaleEpoch) {
		st, serr := b.Backend.Snapshot(ctx)
		if serr != nil {
			return p, serr
		}
		ch.ExpectedPartitionEpoch = st.Topics[ch.Topic].Partitions[ch.Partition].PartitionEpoch
		p, err = b.Backend.AlterPartition(ctx, ch)
	}
	return p, err
}

// blindConfigs ignores SetTopicConfigs' expectation and replaces the
// configs unconditionally, as a plugin built before the compare-and-set
// does.
type blindConfigs struct{ base }

func (b blindConfigs) AddPartitions(ctx context.Context, topic string, expectedCount int32, parts []metadata.PartitionSpec) (metadata.Topic, error) {
	return b.Backend.(metadata.TopicUpdater).AddPartitions(ctx, topic, expectedCount, parts)
}

func (b blindConfigs) SetTopicConfigs(ctx context.Context, topic string, _, configs map[string]string) (metadata.Topic, error) {
	u := b.Backend.(metadata.TopicUpdater)
	for {
		st, err := b.Backend.Snapshot(ctx)
		if err != nil {
			return metadata.Topic{}, err
		}
		tp, err := u.SetTopicConfigs(ctx, topic, st.Topics[topic].Configs, configs)
		if !errors.Is(err, metadata.ErrStaleEpoch) {
			return tp, err
		}
	}
}

// dropReassign forgets a change's Adding and Removing, as an adapter
// written before they existed would.
type dropReassign struct{ base }

func (d dropReassign) AlterPartition(ctx context.Context, ch metadata.PartitionChange) (metadata.Partition, error) {
	ch.Adding, ch.Removing = nil, nil
	return d.Backend.AlterPartition(ctx, ch)
}

// lostSentinels flattens every error of a node other than 0 to its text, as
// an adapter that forgets to translate errors would.
type lostSentinels struct{ base }

func flatten(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(err.Error())
}

func (l lostSentinels) RegisterBroker(ctx context.Context, reg metadata.BrokerRegistration) (metadata.Broker, error) {
	b, err := l.Backend.RegisterBroker(ctx, reg)
	return b, flatten(err)
}

func (l lostSentinels) CreateTopic(ctx context.Context, spec metadata.TopicSpec) (metadata.Topic, error) {
	tp, err := l.Backend.CreateTopic(ctx, spec)
	return tp, flatten(err)
}

// waitsOutDeadline turns ErrUnavailable into waiting for the caller's
// deadline and returning the context's error: it never reports the lost
// quorum.
type waitsOutDeadline struct{ base }

func (w waitsOutDeadline) wait(ctx context.Context, err error) error {
	if errors.Is(err, metadata.ErrUnavailable) {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (w waitsOutDeadline) Snapshot(ctx context.Context) (metadata.State, error) {
	st, err := w.Backend.Snapshot(ctx)
	return st, w.wait(ctx, err)
}

func (w waitsOutDeadline) AllocateProducerIDs(ctx context.Context, n int) (int64, error) {
	first, err := w.Backend.AllocateProducerIDs(ctx, n)
	return first, w.wait(ctx, err)
}

// clusterIDOf replaces the cluster id of every Snapshot with id(prev).
type clusterIDOf struct {
	base
	id func(real string) string
}

func (c clusterIDOf) Snapshot(ctx context.Context) (metadata.State, error) {
	st, err := c.Backend.Snapshot(ctx)
	if err == nil {
		st.ClusterID = c.id(st.ClusterID)
	}
	return st, err
}

var brokenCases = []struct {
	name string
	wrap func(g *group, opts Options, i int, b metadata.Backend) metadata.Backend
	// run are the checks to run; fail those of them that must fail.
	run, fail []string
}{
	{
		name: "drops-every-5th-watch-batch",
		wrap: func(_ *group, _ Options, _ int, b metadata.Backend) metadata.Backend { return dropWatch{base{b}} },
		run: []string{"Watch/CompleteOrderedIdenticalOnEveryNode", "Watch/ResumeAfterCancel",
			"ReadAfterWrite/AcrossNodes", "Topics/CreateExistingFails"},
		fail: []string{"Watch/CompleteOrderedIdenticalOnEveryNode", "Watch/ResumeAfterCancel"},
	},
	{
		name: "duplicates-every-7th-watch-batch",
		wrap: func(_ *group, _ Options, _ int, b metadata.Backend) metadata.Backend { return dupWatch{base{b}} },
		run: []string{"Watch/CompleteOrderedIdenticalOnEveryNode", "Watch/ResumeAfterCancel",
			"Partition/UnknownTopicOrPartitionRejected"},
		fail: []string{"Watch/CompleteOrderedIdenticalOnEveryNode", "Watch/ResumeAfterCancel"},
	},
	{
		name: "never-fences",
		wrap: func(g *group, opts Options, _ int, b metadata.Backend) metadata.Backend {
			return neverFence{base: base{b}, g: g, interval: opts.SessionTimeout / 5}
		},
		run: []string{"Liveness/ExpiredBrokerFenced", "Liveness/SimultaneousExpiryFencedAtDistinctRevisions",
			"Liveness/FencedBrokerMustRegisterAgain", "Liveness/HeartbeatWrongEpochIsStale", "Registration/VisibleOnEveryNode"},
		fail: []string{"Liveness/ExpiredBrokerFenced", "Liveness/SimultaneousExpiryFencedAtDistinctRevisions",
			"Liveness/FencedBrokerMustRegisterAgain"},
	},
	{
		name: "stale-snapshot-on-other-nodes",
		wrap: func(_ *group, _ Options, i int, b metadata.Backend) metadata.Backend {
			if i == 0 {
				return b
			}
			return staleSnapshot{base: base{b}, mu: new(sync.Mutex), prev: new(metadata.State)}
		},
		run: []string{"ReadAfterWrite/AcrossNodes", "Registration/VisibleOnEveryNode",
			"Watch/CompleteOrderedIdenticalOnEveryNode", "Topics/DeleteUnknownFails"},
		fail: []string{"ReadAfterWrite/AcrossNodes"},
	},
	{
		name: "blind-compare-and-set",
		wrap: func(_ *group, _ Options, _ int, b metadata.Backend) metadata.Backend { return blindCAS{base{b}} },
		run: []string{"Concurrency/AlterPartitionOneWinner", "Partition/StaleExpectedEpochRejected",
			"Partition/EpochBumps", "Concurrency/CreateTopicOneWinner"},
		fail: []string{"Concurrency/AlterPartitionOneWinner", "Partition/StaleExpectedEpochRejected"},
	},
	{
		name: "ignores-expected-configs",
		wrap: func(_ *group, _ Options, _ int, b metadata.Backend) metadata.Backend { return blindConfigs{base{b}} },
		run:  []string{"TopicUpdates/SetConfigsCompareAndSet", "TopicUpdates/SetConfigs", "TopicUpdates/AddPartitions"},
		fail: []string{"TopicUpdates/SetConfigsCompareAndSet"},
	},
	{
		name: "drops-reassignment-fields",
		wrap: func(_ *group, _ Options, _ int, b metadata.Backend) metadata.Backend { return dropReassign{base{b}} },
		run:  []string{"Partition/ReassignmentState", "Partition/Reassignment"},
		fail: []string{"Partition/ReassignmentState"},
	},
	{
		name: "loses-sentinels-on-other-nodes",
		wrap: func(_ *group, _ Options, i int, b metadata.Backend) metadata.Backend {
			if i == 0 {
				return b
			}
			return lostSentinels{base{b}}
		},
		run:  []string{"Errors/SentinelsOnEveryNode", "Topics/CreateExistingFails", "Watch/CancelClosesStream"},
		fail: []string{"Errors/SentinelsOnEveryNode", "Topics/CreateExistingFails"},
	},
	{
		name: "own-cluster-id-per-node",
		wrap: func(_ *group, _ Options, i int, b metadata.Backend) metadata.Backend {
			if i == 0 {
				return b
			}
			own := metadata.NewClusterID()
			return clusterIDOf{base{b}, func(string) string { return own }}
		},
		run:  []string{"ClusterID/SameOnEveryNode", "ClusterID/KafkaFormatAndStable", "ClusterID/DiffersBetweenClusters"},
		fail: []string{"ClusterID/SameOnEveryNode"},
	},
	{
		name: "new-cluster-id-per-snapshot",
		wrap: func(_ *group, _ Options, _ int, b metadata.Backend) metadata.Backend {
			return clusterIDOf{base{b}, func(string) string { return metadata.NewClusterID() }}
		},
		run:  []string{"ClusterID/KafkaFormatAndStable", "ClusterID/DiffersBetweenClusters"},
		fail: []string{"ClusterID/KafkaFormatAndStable"},
	},
	{
		name: "hex-uuid-cluster-id",
		wrap: func(_ *group, _ Options, _ int, b metadata.Backend) metadata.Backend {
			return clusterIDOf{base{b}, func(real string) string {
				raw, _ := base64.RawURLEncoding.DecodeString(real)
				return hex.EncodeToString(raw)
			}}
		},
		run:  []string{"ClusterID/KafkaFormatAndStable", "ClusterID/SameOnEveryNode", "Topics/CreateExistingFails"},
		fail: []string{"ClusterID/KafkaFormatAndStable", "ClusterID/SameOnEveryNode"},
	},
	{
		name: "waits-out-deadline-without-quorum",
		wrap: func(_ *group, _ Options, _ int, b metadata.Backend) metadata.Backend {
			return waitsOutDeadline{base{b}}
		},
		run:  []string{"Faults/MajorityLossUnavailable", "Faults/MinorityCrashKeepsWorking"},
		fail: []string{"Faults/MajorityLossUnavailable"},
	},
}

// runNamed runs the named checks against h through a Runner.
func runNamed(t *testing.T, h Harness, names []string) Summary {
	t.Helper()
	known := CheckNames()
	for _, n := range names {
		if !slices.Contains(known, n) {
			t.Fatalf("no check named %q", n)
		}
	}
	r := Runner{
		Harness:  h,
		Config:   DefaultConfig(),
		Match:    func(name string) bool { return slices.Contains(names, name) },
		TempDir:  t.TempDir(),
		OnResult: func(res Result) { t.Logf("%s %s (%v)", res.Status, res.Name, res.Duration.Round(time.Millisecond)) },
	}
	s := r.Run(Checks())
	if len(s.Results) != len(names) {
		t.Fatalf("ran %d checks, want %d", len(s.Results), len(names))
	}
	return s
}

func TestSuiteCatchesBrokenBackends(t *testing.T) {
	for _, c := range brokenCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := brokenHarness{inner: MemoryHarness(), name: c.name, wrap: c.wrap}
			s := runNamed(t, h, c.run)
			for _, res := range s.Results {
				if res.Status == StatusFail {
					t.Logf("%s failed as reported:\n\t%s", res.Name, strings.Join(res.Failures(), "\n\t"))
					if len(res.Failures()) == 0 {
						t.Errorf("%s failed without a failure message", res.Name)
					}
				}
			}
			got, want := s.FailedNames(), slices.Clone(c.fail)
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("on the %s backend these checks failed: %v; want exactly %v", c.name, got, want)
			}
			if s.Skipped != 0 {
				t.Errorf("%d checks skipped", s.Skipped)
			}
		})
	}
	t.Run("unbroken", func(t *testing.T) {
		t.Parallel()
		var all []string
		for _, c := range brokenCases {
			for _, n := range c.run {
				if !slices.Contains(all, n) {
					all = append(all, n)
				}
			}
		}
		s := runNamed(t, MemoryHarness(), all)
		for _, res := range s.Results {
			if res.Status != StatusPass {
				t.Errorf("%s: %s on the unbroken memory harness: %s", res.Name, res.Status, strings.Join(res.Log, "; "))
			}
		}
	})
}
