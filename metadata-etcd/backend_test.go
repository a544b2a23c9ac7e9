package etcdmeta_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestBasicOperations(t *testing.T) {
	ec := startEtcd(t, 1)
	b := newBackend(t, ec.Endpoints(), "/basic/")
	ctx := ctxFor(t, 30*time.Second)

	s0, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := b.Watch(ctx, s0.Revision)
	if err != nil {
		t.Fatal(err)
	}
	br, err := b.RegisterBroker(ctx, reg(1, "a"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.RegisterBroker(ctx, reg(1, "a"))
	if err != nil || again.Epoch != br.Epoch {
		t.Fatalf("idempotent registration: %+v %v, want epoch %d", again, err, br.Epoch)
	}
	if _, err := b.RegisterBroker(ctx, reg(1, "b")); !errors.Is(err, metadata.ErrDuplicateBroker) {
		t.Fatalf("duplicate: %v", err)
	}
	hb, err := b.Heartbeat(ctx, 1, br.Epoch)
	if err != nil || hb.Epoch != br.Epoch || hb.SessionTimeout != time.Second {
		t.Fatalf("heartbeat: %+v %v", hb, err)
	}
	tp, err := b.CreateTopic(ctx, spec("orders", 3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTopic(ctx, spec("orders", 3)); !errors.Is(err, metadata.ErrTopicExists) {
		t.Fatalf("exists: %v", err)
	}
	p, err := b.AlterPartition(ctx, metadata.PartitionChange{Topic: "orders", Partition: 1, ExpectedPartitionEpoch: 0, Leader: 2, ISR: []int32{2}})
	if err != nil || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
		t.Fatalf("alter: %+v %v", p, err)
	}
	first, err := b.AllocateProducerIDs(ctx, 10)
	if err != nil || first != 0 {
		t.Fatalf("allocate: %d %v", first, err)
	}
	first, err = b.AllocateProducerIDs(ctx, 10)
	if err != nil || first != 10 {
		t.Fatalf("allocate: %d %v", first, err)
	}
	if err := b.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := b.UnregisterBroker(ctx, 1, br.Epoch); err != nil {
		t.Fatal(err)
	}
	final, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := s0.Clone()
	var types []metadata.EventType
	for st.Revision < final.Revision {
		select {
		case batch := <-ch:
			if err := st.Apply(batch); err != nil {
				t.Fatal(err)
			}
			for _, e := range batch.Events {
				types = append(types, e.Type)
			}
			if batch.Revision == metadata.Revision(tp.CreatedAt) && batch.Events[0].Topic.Name != "orders" {
				t.Fatalf("creation batch %+v", batch)
			}
		case <-ctx.Done():
			t.Fatalf("watch stalled at %d, want %d", st.Revision, final.Revision)
		}
	}
	st.Revision = final.Revision
	if !reflect.DeepEqual(st, final) {
		t.Fatalf("watched state %+v != snapshot %+v", st, final)
	}
	want := []metadata.EventType{metadata.EventBrokerRegistered, metadata.EventTopicCreated, metadata.EventPartitionChanged,
		metadata.EventProducerIDsAllocated, metadata.EventProducerIDsAllocated, metadata.EventTopicDeleted, metadata.EventBrokerUnregistered}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}
