package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func errorChecks() []Check {
	return []Check{
		{
			Name:   "Errors/SentinelsOnEveryNode",
			Clause: "every node reports each failure as exactly one sentinel of package metadata (errors.Is), with a message",
			Run:    checkSentinels,
		},
		{
			Name:   "Errors/ExpiredContextFailsPromptly",
			Clause: "every call with an already expired or cancelled context fails promptly with the context's error or ErrUnavailable",
			Run:    checkExpiredContext,
		},
		{
			Name:   "Info/DescribesEveryNode",
			Clause: "Info on every node names the backend, a distinct node id, a leader among the nodes (or none), and at least the capabilities the harness declares",
			Run:    checkInfo,
		},
	}
}

func checkSentinels(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	b := e.register(0, 1, newIncarnation())
	e.keepAlive(b.ID, b.Epoch, allNodes(n), false)
	e.createTopic(0, topicSpec("exists", 1, 1))
	for i := range n {
		be := e.node(i)
		ctx, cancel := e.call()
		cases := []struct {
			what string
			want error
			err  error
		}{}
		add := func(what string, want, err error) {
			cases = append(cases, struct {
				what string
				want error
				err  error
			}{what, want, err})
		}
		_, err := be.RegisterBroker(ctx, brokerReg(1, newIncarnation()))
		add("RegisterBroker of a live broker id with another incarnation", metadata.ErrDuplicateBroker, err)
		_, err = be.Heartbeat(ctx, 99, 1)
		add("Heartbeat of an unknown broker", metadata.ErrFenced, err)
		_, err = be.Heartbeat(ctx, b.ID, b.Epoch+1)
		add("Heartbeat with a wrong epoch", metadata.ErrStaleEpoch, err)
		add("UnregisterBroker with a wrong epoch", metadata.ErrStaleEpoch, be.UnregisterBroker(ctx, b.ID, b.Epoch+1))
		_, err = be.CreateTopic(ctx, topicSpec("exists", 1, 1))
		add("CreateTopic of an existing name", metadata.ErrTopicExists, err)
		add("DeleteTopic of an unknown topic", metadata.ErrUnknownTopic, be.DeleteTopic(ctx, "unknown"))
		_, err = be.AlterPartition(ctx, metadata.PartitionChange{Topic: "unknown", Leader: 1, ISR: []int32{1}})
		add("AlterPartition of an unknown topic", metadata.ErrUnknownTopic, err)
		_, err = be.AlterPartition(ctx, metadata.PartitionChange{Topic: "exists", ExpectedPartitionEpoch: 5, Leader: 1, ISR: []int32{1}})
		add("AlterPartition with a stale epoch", metadata.ErrStaleEpoch, err)
		_, err = be.CreateTopic(ctx, metadata.TopicSpec{Name: "", ID: newTopicID(), Partitions: []metadata.PartitionSpec{{Replicas: []int32{1}, Leader: 1}}})
		add("CreateTopic with an empty name", metadata.ErrInvalid, err)
		_, err = be.AllocateProducerIDs(ctx, 0)
		add("AllocateProducerIDs(0)", metadata.ErrInvalid, err)
		cancel()
		for _, c := range cases {
			what := fmt.Sprintf("node %d: %s", i, c.what)
			expectErr(t, what, c.err, c.want)
			if c.err != nil && c.err.Error() == "" {
				t.Errorf("%s: error has an empty message", what)
			}
		}
	}
}

func checkExpiredContext(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	b := e.register(0, 1, newIncarnation())
	e.keepAlive(b.ID, b.Epoch, allNodes(n), false)
	e.createTopic(0, topicSpec("ctx", 1, 1, 2))
	cur := e.snapshot(0).Revision
	calls := []struct {
		name string
		f    func(ctx context.Context, be metadata.Backend) error
	}{
		{"RegisterBroker", func(ctx context.Context, be metadata.Backend) error {
			_, err := be.RegisterBroker(ctx, brokerReg(2, newIncarnation()))
			return err
		}},
		{"Heartbeat", func(ctx context.Context, be metadata.Backend) error {
			_, err := be.Heartbeat(ctx, b.ID, b.Epoch)
			return err
		}},
		{"UnregisterBroker", func(ctx context.Context, be metadata.Backend) error { return be.UnregisterBroker(ctx, 3, 1) }},
		{"CreateTopic", func(ctx context.Context, be metadata.Backend) error {
			_, err := be.CreateTopic(ctx, topicSpec("ctx-new", 1, 1))
			return err
		}},
		{"DeleteTopic", func(ctx context.Context, be metadata.Backend) error { return be.DeleteTopic(ctx, "ctx") }},
		{"AlterPartition", func(ctx context.Context, be metadata.Backend) error {
			_, err := be.AlterPartition(ctx, metadata.PartitionChange{Topic: "ctx", Partition: 0, Leader: 2, ISR: []int32{2}})
			return err
		}},
		{"AllocateProducerIDs", func(ctx context.Context, be metadata.Backend) error {
			_, err := be.AllocateProducerIDs(ctx, 1)
			return err
		}},
		{"Snapshot", func(ctx context.Context, be metadata.Backend) error { _, err := be.Snapshot(ctx); return err }},
		{"Info", func(ctx context.Context, be metadata.Backend) error { _, err := be.Info(ctx); return err }},
		{"Watch", func(ctx context.Context, be metadata.Backend) error {
			ch, err := be.Watch(ctx, cur)
			if err != nil {
				return err
			}
			// A stream may be opened and then closed for the ended context.
			timer := time.NewTimer(promptly)
			defer timer.Stop()
			for {
				select {
				case b, ok := <-ch:
					if !ok {
						return ctx.Err()
					}
					if b.Err != nil {
						return fmt.Errorf("stream with an ended context sent an Err batch (want a plain close): %w", b.Err)
					}
					return fmt.Errorf("stream with an ended context delivered revision %d", b.Revision)
				case <-timer.C:
					return errors.New("Watch with an ended context returned a stream that stayed open")
				}
			}
		}},
	}
	if slices.Contains(h.Capabilities(), metadata.CapCompact) {
		calls = append(calls, struct {
			name string
			f    func(ctx context.Context, be metadata.Backend) error
		}{"Compact", func(ctx context.Context, be metadata.Backend) error {
			c, ok := be.(metadata.Compactor)
			if !ok {
				return fmt.Errorf("%T does not implement metadata.Compactor", be)
			}
			return c.Compact(ctx, 1)
		}})
	}
	expired, cancel1 := context.WithDeadline(e.ctx, time.Now().Add(-time.Second))
	defer cancel1()
	cancelled, cancel2 := context.WithCancel(e.ctx)
	cancel2()
	for i := range n {
		for _, c := range calls {
			for _, k := range []struct {
				name string
				ctx  context.Context
			}{{"an expired deadline", expired}, {"a cancelled context", cancelled}} {
				began := time.Now()
				err := c.f(k.ctx, e.node(i))
				took := time.Since(began)
				what := fmt.Sprintf("node %d: %s with %s", i, c.name, k.name)
				switch {
				case err == nil:
					t.Errorf("%s succeeded", what)
				case !errors.Is(err, k.ctx.Err()) && !errors.Is(err, metadata.ErrUnavailable):
					t.Errorf("%s: %v, want an error matching %v or ErrUnavailable", what, err, k.ctx.Err())
				}
				if took > promptly {
					t.Errorf("%s returned after %v, not promptly", what, took.Round(time.Millisecond))
				}
			}
		}
	}
}

func checkInfo(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	seen := map[string]int{}
	var infos []metadata.Info
	for i := range n {
		in := e.info(i)
		infos = append(infos, in)
		if in.Name == "" {
			t.Errorf("node %d: Info.Name is empty", i)
		}
		if in.NodeID == "" {
			t.Errorf("node %d: Info.NodeID is empty on a configured node", i)
		} else if j, dup := seen[in.NodeID]; dup {
			t.Errorf("nodes %d and %d both have NodeID %q", j, i, in.NodeID)
		}
		seen[in.NodeID] = i
		for _, c := range h.Capabilities() {
			if !in.Has(c) {
				t.Errorf("node %d: harness %s declares capability %q but the backend's Info does not (%v)", i, h.Name(), c, in.Capabilities)
			}
		}
	}
	for i, in := range infos {
		if in.Leader != "" {
			if _, ok := seen[in.Leader]; !ok {
				t.Errorf("node %d: Info names leader %q, which is none of the nodes' ids %v", i, in.Leader, seen)
			}
		}
		if in.Name != infos[0].Name {
			t.Errorf("node %d: Info.Name %q, node 0 says %q", i, in.Name, infos[0].Name)
		}
	}
}
