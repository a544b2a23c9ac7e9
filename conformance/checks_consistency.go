package conformance

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func consistencyChecks() []Check {
	return []Check{
		{
			Name:   "ReadAfterWrite/AcrossNodes",
			Clause: "after a write returns on node i, a Snapshot started afterwards on node j includes it, for every pair of nodes and every kind of write",
			Run:    checkReadAfterWrite,
		},
		{
			Name:   "Concurrency/AlterPartitionOneWinner",
			Clause: "of many concurrent AlterPartition calls across nodes with the same expected epoch exactly one succeeds, the others fail with ErrStaleEpoch",
			Run:    checkAlterOneWinner,
		},
		{
			Name:   "Concurrency/CreateTopicOneWinner",
			Clause: "of many concurrent CreateTopic calls across nodes for one name exactly one succeeds, the others fail with ErrTopicExists",
			Run:    checkCreateOneWinner,
		},
	}
}

func checkReadAfterWrite(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	const rounds = 2
	tp := e.createTopic(0, topicSpec("raw", 1, 1, 2, 3))
	epoch := tp.Partitions[0].PartitionEpoch
	for r := range rounds {
		for i := range n {
			for j := range n {
				// Producer ids.
				first := e.allocate(i, 3)
				if st := e.snapshot(j); st.NextProducerID < first+3 {
					t.Errorf("round %d: AllocateProducerIDs(3) on node %d returned %d, then a Snapshot on node %d (revision %d) has NextProducerID %d < %d",
						r, i, first, j, st.Revision, st.NextProducerID, first+3)
				}
				// Topic creation.
				spec := topicSpec(fmt.Sprintf("raw-%d-%d-%d", r, i, j), 1, 1)
				created := e.createTopic(i, spec)
				if got, ok := e.snapshot(j).Topics[spec.Name]; !ok || got.ID != created.ID {
					t.Errorf("round %d: CreateTopic(%q) returned on node %d, then a Snapshot on node %d has it %v (id %v, want %v)", r, spec.Name, i, j, ok, got.ID, created.ID)
				}
				// Partition change.
				leader := int32(1 + (r*n*n+i*n+j)%3)
				p := e.alter(i, metadata.PartitionChange{Topic: "raw", Partition: 0, ExpectedPartitionEpoch: epoch, Leader: leader, ISR: []int32{1, 2, 3}})
				epoch = p.PartitionEpoch
				if got := e.snapshot(j).Topics["raw"].Partitions[0]; got.PartitionEpoch != p.PartitionEpoch || got.Leader != leader {
					t.Errorf("round %d: AlterPartition returned epoch %d leader %d on node %d, then a Snapshot on node %d has epoch %d leader %d",
						r, p.PartitionEpoch, leader, i, j, got.PartitionEpoch, got.Leader)
				}
				// Broker registration.
				b := e.register(i, e.seq.Add(1), newIncarnation())
				if got, ok := e.snapshot(j).Brokers[b.ID]; !ok || got.Epoch != b.Epoch {
					t.Errorf("round %d: RegisterBroker(%d) returned epoch %d on node %d, then a Snapshot on node %d has it %v with epoch %d", r, b.ID, b.Epoch, i, j, ok, got.Epoch)
				}
			}
		}
		if t.Failed() {
			return
		}
	}
}

func checkAlterOneWinner(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	workers := max(4*n, 8)
	const rounds = 5
	e.createTopic(0, topicSpec("cas", 1, 1, 2, 3))
	for r := range int32(rounds) {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []metadata.Partition
			wins    []metadata.PartitionChange
			errs    errorsOf
		)
		gate := make(chan struct{})
		for w := range workers {
			ch := metadata.PartitionChange{Topic: "cas", Partition: 0, ExpectedPartitionEpoch: r,
				Leader: int32(1 + w%3), ISR: [][]int32{{1, 2, 3}, {1, 2}, {2, 3}, {3, 1}}[w%4]}
			if !contains(ch.ISR, ch.Leader) {
				ch.ISR = append(ch.ISR, ch.Leader)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := e.call()
				defer cancel()
				<-gate
				p, err := e.node(w%n).AlterPartition(ctx, ch)
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, p)
					wins = append(wins, ch)
					mu.Unlock()
				case errors.Is(err, metadata.ErrStaleEpoch):
				default:
					errs.add("round %d, worker %d (node %d): AlterPartition(expected %d): %v, want success or ErrStaleEpoch", r, w, w%n, r, err)
				}
			}()
		}
		close(gate)
		wg.Wait()
		errs.report(t)
		if len(winners) != 1 {
			t.Fatalf("round %d: %d of %d concurrent AlterPartition calls with expected epoch %d succeeded, want exactly 1", r, len(winners), workers, r)
		}
		p := winners[0]
		if p.PartitionEpoch != r+1 {
			t.Errorf("round %d: winner got partition epoch %d, want %d", r, p.PartitionEpoch, r+1)
		}
		if p.Leader != wins[0].Leader || !reflect.DeepEqual(p.ISR, wins[0].ISR) {
			t.Errorf("round %d: winner's change was leader %d isr %v, AlterPartition returned %+v", r, wins[0].Leader, wins[0].ISR, p)
		}
		for j := range n {
			got := e.snapshot(j).Topics["cas"].Partitions[0]
			if !reflect.DeepEqual(canonPartition(got), canonPartition(p)) {
				t.Errorf("round %d: node %d has partition %+v, the winning AlterPartition returned %+v", r, j, got, p)
			}
		}
	}
}

func contains(s []int32, x int32) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func checkCreateOneWinner(t T, h Harness, opts Options) {
	e := start(t, h, opts)
	n := e.c.N()
	workers := max(4*n, 8)
	const rounds = 3
	for r := range rounds {
		name := fmt.Sprintf("race-%d", r)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []metadata.Topic
			errs    errorsOf
		)
		gate := make(chan struct{})
		for w := range workers {
			spec := topicSpec(name, 1+w%3, 1, 2)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := e.call()
				defer cancel()
				<-gate
				tp, err := e.node(w%n).CreateTopic(ctx, spec)
				switch {
				case err == nil:
					if tp.ID != spec.ID {
						errs.add("round %d, worker %d: CreateTopic returned id %v, its spec has %v", r, w, tp.ID, spec.ID)
					}
					mu.Lock()
					winners = append(winners, tp)
					mu.Unlock()
				case errors.Is(err, metadata.ErrTopicExists):
				default:
					errs.add("round %d, worker %d (node %d): CreateTopic(%q): %v, want success or ErrTopicExists", r, w, w%n, name, err)
				}
			}()
		}
		close(gate)
		wg.Wait()
		errs.report(t)
		if len(winners) != 1 {
			t.Fatalf("round %d: %d of %d concurrent CreateTopic(%q) calls succeeded, want exactly 1", r, len(winners), workers, name)
		}
		for j := range n {
			got, ok := e.snapshot(j).Topics[name]
			if !ok || !reflect.DeepEqual(canonTopic(got), canonTopic(winners[0])) {
				t.Errorf("round %d: node %d has topic %q = %+v (present %v), the winner created %+v", r, j, name, got, ok, winners[0])
			}
		}
	}
}
