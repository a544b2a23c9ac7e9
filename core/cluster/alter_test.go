package cluster

import (
	"slices"
	"sync"
	"testing"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestAlterPartitionCompareAndSet(t *testing.T) {
	s := newStore(t, 0)
	cs := threeBrokers(t, s)
	ctx := testCtx(t)
	topic, err := cs[0].CreateTopic(ctx, "alter", 1, 3, nil, nil)
	mustOK(t, err)
	p0 := topic.Partitions[0]
	var newLeader int32 = -1
	for _, r := range p0.Replicas {
		if r != p0.Leader {
			newLeader = r
			break
		}
	}
	isr := []int32{newLeader}

	// Concurrent changes from the same partition epoch on every broker:
	// exactly one wins, the others are stale.
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		wg.Go(func() {
			_, errs[i] = c.AlterPartition(ctx, metadata.PartitionChange{
				Topic: "alter", Partition: 0, ExpectedPartitionEpoch: p0.PartitionEpoch,
				Leader: newLeader, ISR: isr,
			})
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		mustErr(t, err, metadata.ErrStaleEpoch)
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent AlterPartition calls succeeded (%v), want 1", wins, len(cs), errs)
	}
	// Every broker's image has the change once its own call returned; the
	// winner's at least.
	for _, c := range cs {
		eventually(t, 2e9, "image has the change", func() bool {
			p, ok := c.Image().Partition("alter", 0)
			return ok && p.PartitionEpoch == p0.PartitionEpoch+1
		})
	}
	p, _ := cs[0].Image().Partition("alter", 0)
	if p.Leader != newLeader || p.LeaderEpoch != p0.LeaderEpoch+1 || !slices.Equal(p.ISR, isr) {
		t.Fatalf("after the change: %+v, want leader %d epoch %d isr %v", p, newLeader, p0.LeaderEpoch+1, isr)
	}

	// ISR-only change: the leader epoch stays.
	got, err := cs[1].AlterPartition(ctx, metadata.PartitionChange{
		Topic: "alter", Partition: 0, ExpectedPartitionEpoch: p.PartitionEpoch, Leader: newLeader, ISR: p0.Replicas,
	})
	mustOK(t, err)
	if got.LeaderEpoch != p.LeaderEpoch || got.PartitionEpoch != p.PartitionEpoch+1 {
		t.Fatalf("ISR change: %+v, want leader epoch %d, partition epoch %d", got, p.LeaderEpoch, p.PartitionEpoch+1)
	}
	if img, _ := cs[1].Current(); img == nil {
		t.Fatal("no image")
	} else if cur, _ := img.Partition("alter", 0); cur.PartitionEpoch < got.PartitionEpoch {
		t.Fatalf("AlterPartition returned before the caller's image included it: %+v", cur)
	}

	_, err = cs[2].AlterPartition(ctx, metadata.PartitionChange{Topic: "missing", Partition: 0, Leader: 1, ISR: []int32{1}})
	mustErr(t, err, ErrUnknownTopic)
}
