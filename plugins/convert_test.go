package plugins

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/chronik-go/chronik/plugins/internal/pb"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// wire marshals and unmarshals m, so the round trips below cross real
// protobuf bytes and not only the Go structs.
func wire[M proto.Message](t *testing.T, m M, into M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshal %T: %v", m, err)
	}
	if err := proto.Unmarshal(b, into); err != nil {
		t.Fatalf("unmarshal %T: %v", m, err)
	}
	return into
}

var testTopicID = metadata.TopicID{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

func fullTopic() metadata.Topic {
	return metadata.Topic{Name: "orders", ID: testTopicID, Configs: map[string]string{"retention.ms": "1000", "": "empty key"},
		CreatedAt: 42, Partitions: []metadata.Partition{
			{Topic: "orders", Partition: 0, Replicas: []int32{1, 2, 3}, Leader: 2, LeaderEpoch: 7, ISR: []int32{2, 3}, PartitionEpoch: 9, Adding: []int32{3}, Removing: []int32{1}},
			{Topic: "orders", Partition: 1, Replicas: []int32{3}, Leader: metadata.NoLeader, PartitionEpoch: 1},
		}}
}

func TestConvertConfigRoundTrip(t *testing.T) {
	for name, c := range map[string]metadata.Config{
		"zero":             {},
		"full":             {NodeID: "n1", DataDir: "/d", SessionTimeout: 6*time.Second + 1, Peers: []metadata.Peer{{ID: "n1", Address: "a:1"}, {ID: "n2", Address: "b:2"}}, Settings: map[string]string{"k": "v", "e": ""}},
		"negative timeout": {SessionTimeout: -time.Nanosecond},
	} {
		t.Run(name, func(t *testing.T) {
			got := fromPBConfig(wire(t, toPBConfig(c), &pb.Config{}))
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("round trip = %#v, want %#v", got, c)
			}
		})
	}
	// Empty slices and maps come back nil (the documented rule).
	got := fromPBConfig(wire(t, toPBConfig(metadata.Config{Peers: []metadata.Peer{}, Settings: map[string]string{}}), &pb.Config{}))
	if got.Peers != nil || got.Settings != nil {
		t.Fatalf("empty Peers/Settings decoded as %#v / %#v, want nil", got.Peers, got.Settings)
	}
}

func TestConvertBrokerRoundTrip(t *testing.T) {
	for name, b := range map[string]metadata.Broker{
		"zero":        {},
		"full":        {ID: 3, IncarnationID: "u-u-i-d", Rack: "eu-1a", Epoch: 1 << 40, Fenced: true, Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "h", Port: 9092}, {Name: "SSL", Host: "h2", Port: -1}}},
		"negative id": {ID: -1, Epoch: -5},
	} {
		t.Run(name, func(t *testing.T) {
			if got := fromPBBroker(wire(t, toPBBroker(b), &pb.Broker{})); !reflect.DeepEqual(got, b) {
				t.Fatalf("round trip = %#v, want %#v", got, b)
			}
			reg := metadata.BrokerRegistration{ID: b.ID, IncarnationID: b.IncarnationID, Listeners: b.Listeners, Rack: b.Rack}
			if got := fromPBRegistration(wire(t, toPBRegistration(reg), &pb.BrokerRegistration{})); !reflect.DeepEqual(got, reg) {
				t.Fatalf("registration round trip = %#v, want %#v", got, reg)
			}
		})
	}
	if got := fromPBBroker(wire(t, toPBBroker(metadata.Broker{Listeners: []metadata.Listener{}}), &pb.Broker{})); got.Listeners != nil {
		t.Fatalf("empty Listeners decoded as %#v, want nil", got.Listeners)
	}
}

func TestConvertTopicSpecRoundTrip(t *testing.T) {
	for name, s := range map[string]metadata.TopicSpec{
		"zero": {},
		"full": {Name: "t", ID: testTopicID, Configs: map[string]string{"a": "b"}, Partitions: []metadata.PartitionSpec{
			{Replicas: []int32{1, 2}, Leader: 1, ISR: []int32{1}}, {Replicas: []int32{2}, Leader: metadata.NoLeader}, {}}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := fromPBTopicSpec(wire(t, toPBTopicSpec(s), &pb.TopicSpec{}))
			if err != nil || !reflect.DeepEqual(got, s) {
				t.Fatalf("round trip = %#v, %v; want %#v", got, err, s)
			}
		})
	}
}

func TestConvertTopicRoundTrip(t *testing.T) {
	for name, tc := range map[string]metadata.Topic{
		"full": fullTopic(),
		// Topic.Partitions always decodes non-nil, as Topic.Clone makes it.
		"no partitions": {Name: "x", Partitions: []metadata.Partition{}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := fromPBTopic(wire(t, toPBTopic(tc), &pb.Topic{}))
			if err != nil || !reflect.DeepEqual(got, tc) {
				t.Fatalf("round trip = %#v, %v; want %#v", got, err, tc)
			}
		})
	}
}

func TestConvertTopicIDLength(t *testing.T) {
	for _, n := range []int{1, 15, 17, 32} {
		if _, err := fromPBTopic(&pb.Topic{Id: make([]byte, n)}); !errors.Is(err, metadata.ErrInvalid) {
			t.Errorf("topic id of %d bytes: %v, want ErrInvalid", n, err)
		}
		if _, err := fromPBTopicSpec(&pb.TopicSpec{Id: make([]byte, n)}); !errors.Is(err, metadata.ErrInvalid) {
			t.Errorf("topic spec id of %d bytes: %v, want ErrInvalid", n, err)
		}
	}
	if id, err := fromPBTopicID(nil); err != nil || !id.IsZero() {
		t.Errorf("empty topic id = %v, %v; want zero id", id, err)
	}
}

func TestConvertPartitionChangeRoundTrip(t *testing.T) {
	for name, c := range map[string]metadata.PartitionChange{
		"keep assignment":  {Topic: "t", Partition: 2, ExpectedPartitionEpoch: 4, Leader: 1, ISR: []int32{1, 2}},
		"reassign":         {Topic: "t", Partition: 2, ExpectedPartitionEpoch: 4, Leader: 3, ISR: []int32{3}, Replicas: []int32{3, 4}},
		"reassign adding":  {Topic: "t", Partition: 2, ExpectedPartitionEpoch: 4, Leader: 3, ISR: []int32{3}, Replicas: []int32{4, 5, 3}, Adding: []int32{4, 5}, Removing: []int32{3}},
		"empty assignment": {Topic: "t", Leader: metadata.NoLeader, Replicas: []int32{}},
		"zero":             {},
	} {
		t.Run(name, func(t *testing.T) {
			got := fromPBPartitionChange(wire(t, toPBPartitionChange(c), &pb.PartitionChange{}))
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("round trip = %#v, want %#v", got, c)
			}
			if (got.Replicas == nil) != (c.Replicas == nil) {
				t.Fatalf("Replicas nil-ness changed: %#v -> %#v", c.Replicas, got.Replicas)
			}
		})
	}
}

func TestConvertInfoRoundTrip(t *testing.T) {
	for name, i := range map[string]metadata.Info{
		"zero": {},
		"full": {Name: "raft", Version: "1.2.3", NodeID: "n2", Leader: "n1",
			Capabilities: []metadata.Capability{metadata.CapPersistence, metadata.CapMultiNode, "future-cap"},
			Members:      []metadata.Member{{ID: "n1", Address: "a:1", Voter: true, Leader: true}, {ID: "n2", Address: "b:2"}}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := fromPBInfo(wire(t, toPBInfo(i), &pb.Info{})); !reflect.DeepEqual(got, i) {
				t.Fatalf("round trip = %#v, want %#v", got, i)
			}
		})
	}
}

// testEvents has one event of every type, with every field its type uses.
func testEvents() []metadata.WatchBatch {
	topic := fullTopic()
	changed := topic.Partitions[1].Clone()
	changed.Leader, changed.LeaderEpoch, changed.ISR, changed.PartitionEpoch = 3, 1, []int32{3}, 2
	return []metadata.WatchBatch{
		{Revision: 3, Events: []metadata.Event{{Type: metadata.EventBrokerRegistered, Broker: metadata.Broker{ID: 1, IncarnationID: "i1", Epoch: 3,
			Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "h", Port: 1}}}}}},
		{Revision: 5, Events: []metadata.Event{
			{Type: metadata.EventBrokerRegistered, Broker: metadata.Broker{ID: 2, IncarnationID: "i2", Epoch: 5, Rack: "r"}},
			{Type: metadata.EventBrokerRegistered, Broker: metadata.Broker{ID: 3, IncarnationID: "i3", Epoch: 5}},
		}},
		{Revision: 6, Events: []metadata.Event{{Type: metadata.EventTopicCreated, Topic: topic}}},
		{Revision: 7, Events: []metadata.Event{{Type: metadata.EventTopicCreated, Topic: metadata.Topic{Name: "bare", ID: metadata.TopicID{1},
			Partitions: []metadata.Partition{{Topic: "bare", Leader: metadata.NoLeader}}}}}},
		{Revision: 8, Events: []metadata.Event{{Type: metadata.EventPartitionChanged, Partition: changed}}},
		{Revision: 9, Events: []metadata.Event{{Type: metadata.EventBrokerFenced, Broker: metadata.Broker{ID: 2, IncarnationID: "i2", Epoch: 5, Rack: "r", Fenced: true}}}},
		{Revision: 10, Events: []metadata.Event{{Type: metadata.EventProducerIDsAllocated, NextProducerID: 1000}}},
		{Revision: 12, Events: []metadata.Event{{Type: metadata.EventBrokerUnregistered, BrokerID: 3}}},
		{Revision: 13, Events: []metadata.Event{{Type: metadata.EventTopicDeleted, TopicName: "bare"}}},
	}
}

func TestConvertWatchBatchRoundTrip(t *testing.T) {
	batches := append(testEvents(),
		metadata.WatchBatch{},
		metadata.WatchBatch{Revision: 99, Events: []metadata.Event{{Type: metadata.EventType(42), BrokerID: 1, TopicName: "x"}}}) // unknown types survive
	for _, b := range batches {
		m := wire(t, toPBWatchBatch(b), &pb.WatchBatch{})
		got, err := fromPBWatchBatch(m)
		if err != nil || !reflect.DeepEqual(got, b) {
			t.Fatalf("round trip = %#v, %v; want %#v", got, err, b)
		}
	}
}

func TestConvertStateRoundTrip(t *testing.T) {
	// States as a watcher builds them: metadata.NewState, then Apply.
	empty := metadata.NewState()
	built := metadata.NewState()
	built.ClusterID = metadata.NewClusterID()
	for _, b := range testEvents() {
		if err := built.Apply(b); err != nil {
			t.Fatalf("Apply(%d): %v", b.Revision, err)
		}
	}
	// And the same after the batches themselves crossed the wire.
	viaWire := metadata.NewState()
	viaWire.ClusterID = built.ClusterID
	for _, b := range testEvents() {
		got, err := fromPBWatchBatch(wire(t, toPBWatchBatch(b), &pb.WatchBatch{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := viaWire.Apply(got); err != nil {
			t.Fatalf("Apply(%d): %v", b.Revision, err)
		}
	}
	if !reflect.DeepEqual(viaWire, built) {
		t.Fatalf("state from decoded batches = %#v\nwant %#v", viaWire, built)
	}
	for name, s := range map[string]metadata.State{"empty": empty, "built": built} {
		t.Run(name, func(t *testing.T) {
			got, err := fromPBState(wire(t, toPBState(s), &pb.State{}))
			if err != nil || !reflect.DeepEqual(got, s) {
				t.Fatalf("round trip = %#v, %v\nwant %#v", got, err, s)
			}
		})
	}
	// A zero State (nil maps) decodes with non-nil maps, as NewState.
	got, err := fromPBState(&pb.State{})
	if err != nil || got.Brokers == nil || got.Topics == nil {
		t.Fatalf("zero state decoded as %#v, %v; want non-nil maps", got, err)
	}
	if _, err := fromPBState(&pb.State{Topics: map[string]*pb.Topic{"x": {Id: []byte{1}}}}); !errors.Is(err, metadata.ErrInvalid) {
		t.Fatalf("state with a bad topic id: %v, want ErrInvalid", err)
	}
}
