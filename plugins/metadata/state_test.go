package metadata

import (
	"errors"
	"reflect"
	"testing"
)

func TestStateApply(t *testing.T) {
	s := NewState()
	b1 := Broker{ID: 1, IncarnationID: "a", Epoch: 1, Listeners: []Listener{{Name: "PLAINTEXT", Host: "h", Port: 9092}}}
	topic := Topic{Name: "t", ID: TopicID{1}, CreatedAt: 2, Partitions: []Partition{
		{Topic: "t", Partition: 0, Replicas: []int32{1}, Leader: 1, ISR: []int32{1}},
		{Topic: "t", Partition: 1, Replicas: []int32{1}, Leader: 1, ISR: []int32{1}},
	}}
	steps := []WatchBatch{
		{Revision: 1, Events: []Event{{Type: EventBrokerRegistered, Broker: b1}}},
		{Revision: 2, Events: []Event{{Type: EventTopicCreated, Topic: topic}}},
		{Revision: 5, Events: []Event{{Type: EventPartitionChanged, Partition: Partition{Topic: "t", Partition: 1, Replicas: []int32{1}, Leader: NoLeader, LeaderEpoch: 1, PartitionEpoch: 1}}}},
		{Revision: 6, Events: []Event{{Type: EventProducerIDsAllocated, NextProducerID: 1000}}},
		{Revision: 7, Events: []Event{{Type: EventBrokerFenced, Broker: Broker{ID: 1, IncarnationID: "a", Epoch: 1, Fenced: true}}}},
	}
	for _, b := range steps {
		if err := s.Apply(b); err != nil {
			t.Fatalf("Apply(%d): %v", b.Revision, err)
		}
	}
	if s.Revision != 7 || s.NextProducerID != 1000 || !s.Brokers[1].Fenced || len(s.LiveBrokers()) != 0 {
		t.Fatalf("state after apply: %+v", s)
	}
	if p := s.Topics["t"].Partitions[1]; p.Leader != NoLeader || p.LeaderEpoch != 1 {
		t.Fatalf("partition 1 = %+v", p)
	}
	// The applied topic is a copy: changing partition 1 did not touch the
	// caller's topic value.
	if topic.Partitions[1].Leader != 1 {
		t.Fatal("Apply modified the event's topic in place")
	}

	c := s.Clone()
	if !reflect.DeepEqual(c, s) {
		t.Fatal("Clone differs")
	}
	c.Topics["t"].Partitions[0].ISR[0] = 9
	if s.Topics["t"].Partitions[0].ISR[0] != 1 {
		t.Fatal("Clone shares slices")
	}

	for name, b := range map[string]WatchBatch{
		"old revision":      {Revision: 7},
		"error batch":       {Revision: 8, Err: ErrCompacted},
		"unknown partition": {Revision: 8, Events: []Event{{Type: EventPartitionChanged, Partition: Partition{Topic: "t", Partition: 2}}}},
		"unknown topic":     {Revision: 8, Events: []Event{{Type: EventTopicDeleted, TopicName: "nope"}}},
		"unknown event":     {Revision: 8, Events: []Event{{Type: 99}}},
	} {
		if err := s.Apply(b); err == nil {
			t.Errorf("%s: Apply accepted %+v", name, b)
		}
	}
	if err := s.Apply(WatchBatch{Revision: 8, Err: ErrCompacted}); !errors.Is(err, ErrCompacted) {
		t.Errorf("error batch: %v", err)
	}
	if err := s.Apply(WatchBatch{Revision: 9, Events: []Event{{Type: EventTopicDeleted, TopicName: "t"}, {Type: EventBrokerUnregistered, BrokerID: 1}}}); err != nil {
		t.Fatal(err)
	}
	if len(s.Topics) != 0 || len(s.Brokers) != 0 || s.Revision != 9 {
		t.Fatalf("after deletes: %+v", s)
	}
}

func TestTopicIDString(t *testing.T) {
	id := TopicID{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 1, 2, 3, 4, 5, 6, 7}
	if got, want := id.String(), "01234567-89ab-cdef-0001-020304050607"; got != want {
		t.Fatalf("String = %s, want %s", got, want)
	}
	if !(TopicID{}).IsZero() || id.IsZero() {
		t.Fatal("IsZero")
	}
}
