package plugins

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestClientEveryRPC(t *testing.T) {
	fb := newFakeBackend()
	c := newTestClient(t, fb)
	ctx := testCtx(t)

	info, err := c.Info(ctx)
	if err != nil || !reflect.DeepEqual(info, fb.info) {
		t.Fatalf("Info = %+v, %v; want %+v", info, err, fb.info)
	}

	reg := metadata.BrokerRegistration{ID: 1, IncarnationID: "inc-1", Rack: "r1",
		Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}}}
	br, err := c.RegisterBroker(ctx, reg)
	want := metadata.Broker{ID: 1, IncarnationID: "inc-1", Listeners: reg.Listeners, Rack: "r1", Epoch: 1}
	if err != nil || !reflect.DeepEqual(br, want) {
		t.Fatalf("RegisterBroker = %+v, %v; want %+v", br, err, want)
	}
	if _, err := c.RegisterBroker(ctx, metadata.BrokerRegistration{ID: 1, IncarnationID: "other"}); !errors.Is(err, metadata.ErrDuplicateBroker) {
		t.Fatalf("RegisterBroker other incarnation: %v, want ErrDuplicateBroker", err)
	}

	hb, err := c.Heartbeat(ctx, 1, br.Epoch)
	if err != nil || hb != (metadata.HeartbeatResult{Epoch: 1, SessionTimeout: 1234 * time.Millisecond}) {
		t.Fatalf("Heartbeat = %+v, %v", hb, err)
	}
	if _, err := c.Heartbeat(ctx, 1, 99); !errors.Is(err, metadata.ErrStaleEpoch) {
		t.Fatalf("Heartbeat stale: %v", err)
	}
	if _, err := c.Heartbeat(ctx, 7, 1); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("Heartbeat unknown broker: %v", err)
	}

	spec := metadata.TopicSpec{Name: "t", ID: metadata.TopicID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Configs:    map[string]string{"cleanup.policy": "compact"},
		Partitions: []metadata.PartitionSpec{{Replicas: []int32{1}, Leader: 1}, {Replicas: []int32{1}, Leader: metadata.NoLeader, ISR: []int32{1}}}}
	topic, err := c.CreateTopic(ctx, spec)
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	wantTopic := metadata.Topic{Name: "t", ID: spec.ID, Configs: spec.Configs, CreatedAt: 2, Partitions: []metadata.Partition{
		{Topic: "t", Partition: 0, Replicas: []int32{1}, Leader: 1, ISR: []int32{1}},
		{Topic: "t", Partition: 1, Replicas: []int32{1}, Leader: metadata.NoLeader, ISR: []int32{1}}}}
	if !reflect.DeepEqual(topic, wantTopic) {
		t.Fatalf("CreateTopic = %+v, want %+v", topic, wantTopic)
	}
	if _, err := c.CreateTopic(ctx, spec); !errors.Is(err, metadata.ErrTopicExists) {
		t.Fatalf("CreateTopic again: %v", err)
	}

	p, err := c.AlterPartition(ctx, metadata.PartitionChange{Topic: "t", Partition: 1, ExpectedPartitionEpoch: 0, Leader: 1, ISR: []int32{1}})
	wantP := metadata.Partition{Topic: "t", Partition: 1, Replicas: []int32{1}, Leader: 1, LeaderEpoch: 1, ISR: []int32{1}, PartitionEpoch: 1}
	if err != nil || !reflect.DeepEqual(p, wantP) {
		t.Fatalf("AlterPartition = %+v, %v; want %+v", p, err, wantP)
	}
	if _, err := c.AlterPartition(ctx, metadata.PartitionChange{Topic: "t", Partition: 1, ExpectedPartitionEpoch: 0, Leader: 1}); !errors.Is(err, metadata.ErrStaleEpoch) {
		t.Fatalf("AlterPartition stale: %v", err)
	}

	first, err := c.AllocateProducerIDs(ctx, 10)
	if err != nil || first != 0 {
		t.Fatalf("AllocateProducerIDs = %d, %v", first, err)
	}
	first, err = c.AllocateProducerIDs(ctx, 5)
	if err != nil || first != 10 {
		t.Fatalf("AllocateProducerIDs = %d, %v", first, err)
	}

	st, err := c.Snapshot(ctx)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	local, _ := fb.Snapshot(ctx)
	if !reflect.DeepEqual(st, local) {
		t.Fatalf("Snapshot over gRPC = %+v\nin process = %+v", st, local)
	}

	if err := c.DeleteTopic(ctx, "t"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if err := c.DeleteTopic(ctx, "t"); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("DeleteTopic again: %v", err)
	}
	if err := c.UnregisterBroker(ctx, 1, br.Epoch); err != nil {
		t.Fatalf("UnregisterBroker: %v", err)
	}
	if err := c.Compact(ctx, 3); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if _, err := c.Watch(ctx, 1); !errors.Is(err, metadata.ErrCompacted) {
		t.Fatalf("Watch from compacted revision: %v", err)
	}
	if err := c.Configure(ctx, metadata.Config{NodeID: "n1"}); !errors.Is(err, metadata.ErrInvalid) {
		t.Fatalf("Configure of a RegisterBackend server: %v, want ErrInvalid", err)
	}
}
