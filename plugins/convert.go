package plugins

import (
	"fmt"
	"time"

	"github.com/chronik-go/chronik/plugins/internal/pb"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Conversion between the metadata types and their protobuf messages.
//
// Every field is carried. Protobuf cannot tell a nil slice or map from an
// empty one, so decoding follows one rule:
//
//   - an empty repeated field or map decodes to nil, except
//   - State.Brokers and State.Topics, always non-nil (as metadata.NewState
//     makes them), and Topic.Partitions, always non-nil (as Topic.Clone
//     makes it) except in an Event, where an empty one decodes to nil so
//     that the zero Topic of a non-topic event round-trips, and
//   - PartitionChange.Replicas, whose nil ("keep the assignment") is carried
//     by the presence of a BrokerIDs message: present decodes non-nil.
//
// So a State built by metadata.NewState and Apply from decoded batches is
// reflect.DeepEqual to itself after a round trip. A nil sub-message decodes
// to the zero value. A TopicID is 16 bytes on the wire; an empty one decodes
// to the zero id and any other length is an error (metadata.ErrInvalid).
//
// Encoding never fails; decoding fails only on a malformed TopicID.

func toPBConfig(c metadata.Config) *pb.Config {
	m := &pb.Config{
		NodeId:           c.NodeID,
		DataDir:          c.DataDir,
		SessionTimeoutNs: int64(c.SessionTimeout),
		Settings:         c.Settings,
	}
	for _, p := range c.Peers {
		m.Peers = append(m.Peers, &pb.Peer{Id: p.ID, Address: p.Address})
	}
	return m
}

func fromPBConfig(m *pb.Config) metadata.Config {
	c := metadata.Config{
		NodeID:         m.GetNodeId(),
		DataDir:        m.GetDataDir(),
		SessionTimeout: time.Duration(m.GetSessionTimeoutNs()),
		Settings:       nilIfEmptyMap(m.GetSettings()),
	}
	for _, p := range m.GetPeers() {
		c.Peers = append(c.Peers, metadata.Peer{ID: p.GetId(), Address: p.GetAddress()})
	}
	return c
}

func toPBListeners(ls []metadata.Listener) []*pb.Listener {
	var out []*pb.Listener
	for _, l := range ls {
		out = append(out, &pb.Listener{Name: l.Name, Host: l.Host, Port: l.Port})
	}
	return out
}

func fromPBListeners(ms []*pb.Listener) []metadata.Listener {
	var out []metadata.Listener
	for _, m := range ms {
		out = append(out, metadata.Listener{Name: m.GetName(), Host: m.GetHost(), Port: m.GetPort()})
	}
	return out
}

func toPBRegistration(r metadata.BrokerRegistration) *pb.BrokerRegistration {
	return &pb.BrokerRegistration{Id: r.ID, IncarnationId: r.IncarnationID, Listeners: toPBListeners(r.Listeners), Rack: r.Rack}
}

func fromPBRegistration(m *pb.BrokerRegistration) metadata.BrokerRegistration {
	return metadata.BrokerRegistration{ID: m.GetId(), IncarnationID: m.GetIncarnationId(), Listeners: fromPBListeners(m.GetListeners()), Rack: m.GetRack()}
}

func toPBBroker(b metadata.Broker) *pb.Broker {
	return &pb.Broker{Id: b.ID, IncarnationId: b.IncarnationID, Listeners: toPBListeners(b.Listeners),
		Rack: b.Rack, Epoch: b.Epoch, Fenced: b.Fenced}
}

func fromPBBroker(m *pb.Broker) metadata.Broker {
	return metadata.Broker{ID: m.GetId(), IncarnationID: m.GetIncarnationId(), Listeners: fromPBListeners(m.GetListeners()),
		Rack: m.GetRack(), Epoch: m.GetEpoch(), Fenced: m.GetFenced()}
}

func fromPBTopicID(b []byte) (metadata.TopicID, error) {
	var id metadata.TopicID
	switch len(b) {
	case 0:
		return id, nil
	case len(id):
		copy(id[:], b)
		return id, nil
	}
	return id, fmt.Errorf("%w: topic id of %d bytes, want %d", metadata.ErrInvalid, len(b), len(id))
}

func toPBTopicSpec(s metadata.TopicSpec) *pb.TopicSpec {
	return &pb.TopicSpec{Name: s.Name, Id: s.ID[:], Configs: s.Configs, Partitions: toPBPartitionSpecs(s.Partitions)}
}

func toPBPartitionSpecs(ps []metadata.PartitionSpec) []*pb.PartitionSpec {
	var out []*pb.PartitionSpec
	for _, p := range ps {
		out = append(out, &pb.PartitionSpec{Replicas: p.Replicas, Leader: p.Leader, Isr: p.ISR})
	}
	return out
}

func fromPBPartitionSpecs(ms []*pb.PartitionSpec) []metadata.PartitionSpec {
	var out []metadata.PartitionSpec
	for _, p := range ms {
		out = append(out, metadata.PartitionSpec{
			Replicas: nilIfEmpty(p.GetReplicas()), Leader: p.GetLeader(), ISR: nilIfEmpty(p.GetIsr())})
	}
	return out
}

func fromPBTopicSpec(m *pb.TopicSpec) (metadata.TopicSpec, error) {
	id, err := fromPBTopicID(m.GetId())
	if err != nil {
		return metadata.TopicSpec{}, err
	}
	return metadata.TopicSpec{Name: m.GetName(), ID: id, Configs: nilIfEmptyMap(m.GetConfigs()),
		Partitions: fromPBPartitionSpecs(m.GetPartitions())}, nil
}

func toPBTopic(t metadata.Topic) *pb.Topic {
	m := &pb.Topic{Name: t.Name, Id: t.ID[:], Configs: t.Configs, CreatedAt: int64(t.CreatedAt)}
	for _, p := range t.Partitions {
		m.Partitions = append(m.Partitions, toPBPartition(p))
	}
	return m
}

func fromPBTopic(m *pb.Topic) (metadata.Topic, error) {
	id, err := fromPBTopicID(m.GetId())
	if err != nil {
		return metadata.Topic{}, err
	}
	t := metadata.Topic{Name: m.GetName(), ID: id, Configs: nilIfEmptyMap(m.GetConfigs()),
		Partitions: make([]metadata.Partition, 0, len(m.GetPartitions())), CreatedAt: metadata.Revision(m.GetCreatedAt())}
	for _, p := range m.GetPartitions() {
		t.Partitions = append(t.Partitions, fromPBPartition(p))
	}
	return t, nil
}

func toPBPartition(p metadata.Partition) *pb.Partition {
	return &pb.Partition{Topic: p.Topic, Partition: p.Partition, Replicas: p.Replicas, Leader: p.Leader,
		LeaderEpoch: p.LeaderEpoch, Isr: p.ISR, PartitionEpoch: p.PartitionEpoch, Adding: p.Adding, Removing: p.Removing}
}

func fromPBPartition(m *pb.Partition) metadata.Partition {
	return metadata.Partition{Topic: m.GetTopic(), Partition: m.GetPartition(), Replicas: nilIfEmpty(m.GetReplicas()),
		Leader: m.GetLeader(), LeaderEpoch: m.GetLeaderEpoch(), ISR: nilIfEmpty(m.GetIsr()), PartitionEpoch: m.GetPartitionEpoch(),
		Adding: nilIfEmpty(m.GetAdding()), Removing: nilIfEmpty(m.GetRemoving())}
}

func toPBPartitionChange(c metadata.PartitionChange) *pb.PartitionChange {
	m := &pb.PartitionChange{Topic: c.Topic, Partition: c.Partition, ExpectedPartitionEpoch: c.ExpectedPartitionEpoch,
		Leader: c.Leader, Isr: c.ISR, Adding: c.Adding, Removing: c.Removing}
	if c.Replicas != nil {
		m.Replicas = &pb.BrokerIDs{Ids: c.Replicas}
	}
	return m
}

func fromPBPartitionChange(m *pb.PartitionChange) metadata.PartitionChange {
	c := metadata.PartitionChange{Topic: m.GetTopic(), Partition: m.GetPartition(),
		ExpectedPartitionEpoch: m.GetExpectedPartitionEpoch(), Leader: m.GetLeader(), ISR: nilIfEmpty(m.GetIsr()),
		Adding: nilIfEmpty(m.GetAdding()), Removing: nilIfEmpty(m.GetRemoving())}
	if r := m.GetReplicas(); r != nil {
		c.Replicas = append(make([]int32, 0, len(r.GetIds())), r.GetIds()...)
	}
	return c
}

func toPBState(s metadata.State) *pb.State {
	m := &pb.State{Revision: int64(s.Revision), ClusterId: s.ClusterID, NextProducerId: s.NextProducerID}
	if len(s.Brokers) > 0 {
		m.Brokers = make(map[int32]*pb.Broker, len(s.Brokers))
		for id, b := range s.Brokers {
			m.Brokers[id] = toPBBroker(b)
		}
	}
	if len(s.Topics) > 0 {
		m.Topics = make(map[string]*pb.Topic, len(s.Topics))
		for n, t := range s.Topics {
			m.Topics[n] = toPBTopic(t)
		}
	}
	return m
}

func fromPBState(m *pb.State) (metadata.State, error) {
	s := metadata.State{Revision: metadata.Revision(m.GetRevision()), ClusterID: m.GetClusterId(), NextProducerID: m.GetNextProducerId(),
		Brokers: make(map[int32]metadata.Broker, len(m.GetBrokers())),
		Topics:  make(map[string]metadata.Topic, len(m.GetTopics()))}
	for id, b := range m.GetBrokers() {
		s.Brokers[id] = fromPBBroker(b)
	}
	for n, t := range m.GetTopics() {
		topic, err := fromPBTopic(t)
		if err != nil {
			return metadata.State{}, fmt.Errorf("topic %q: %w", n, err)
		}
		s.Topics[n] = topic
	}
	return s, nil
}

func toPBEvent(e metadata.Event) *pb.Event {
	return &pb.Event{
		Type:           pb.EventType(e.Type),
		Broker:         toPBBroker(e.Broker),
		BrokerId:       e.BrokerID,
		Topic:          toPBTopic(e.Topic),
		TopicName:      e.TopicName,
		Partition:      toPBPartition(e.Partition),
		NextProducerId: e.NextProducerID,
	}
}

func fromPBEvent(m *pb.Event) (metadata.Event, error) {
	e := metadata.Event{
		Type:           metadata.EventType(m.GetType()),
		Broker:         fromPBBroker(m.GetBroker()),
		BrokerID:       m.GetBrokerId(),
		TopicName:      m.GetTopicName(),
		Partition:      fromPBPartition(m.GetPartition()),
		NextProducerID: m.GetNextProducerId(),
	}
	if t := m.GetTopic(); t != nil {
		topic, err := fromPBTopic(t)
		if err != nil {
			return metadata.Event{}, err
		}
		e.Topic = topic
		if len(t.GetPartitions()) == 0 {
			// The zero Topic of an event of another type has nil partitions.
			e.Topic.Partitions = nil
		}
	}
	return e, nil
}

// toPBWatchBatch encodes b without its Err (which travels as the stream's
// status).
func toPBWatchBatch(b metadata.WatchBatch) *pb.WatchBatch {
	m := &pb.WatchBatch{Revision: int64(b.Revision)}
	for _, e := range b.Events {
		m.Events = append(m.Events, toPBEvent(e))
	}
	return m
}

func fromPBWatchBatch(m *pb.WatchBatch) (metadata.WatchBatch, error) {
	b := metadata.WatchBatch{Revision: metadata.Revision(m.GetRevision())}
	for i, e := range m.GetEvents() {
		ev, err := fromPBEvent(e)
		if err != nil {
			return metadata.WatchBatch{}, fmt.Errorf("revision %d event %d: %w", m.GetRevision(), i, err)
		}
		b.Events = append(b.Events, ev)
	}
	return b, nil
}

func toPBInfo(i metadata.Info) *pb.Info {
	m := &pb.Info{Name: i.Name, Version: i.Version, NodeId: i.NodeID, Leader: i.Leader}
	for _, c := range i.Capabilities {
		m.Capabilities = append(m.Capabilities, string(c))
	}
	for _, mem := range i.Members {
		m.Members = append(m.Members, toPBMember(mem))
	}
	return m
}

func fromPBInfo(m *pb.Info) metadata.Info {
	i := metadata.Info{Name: m.GetName(), Version: m.GetVersion(), NodeID: m.GetNodeId(), Leader: m.GetLeader()}
	for _, c := range m.GetCapabilities() {
		i.Capabilities = append(i.Capabilities, metadata.Capability(c))
	}
	for _, mem := range m.GetMembers() {
		i.Members = append(i.Members, fromPBMember(mem))
	}
	return i
}

func toPBMember(m metadata.Member) *pb.Member {
	return &pb.Member{Id: m.ID, Address: m.Address, Voter: m.Voter, Leader: m.Leader}
}

func fromPBMember(m *pb.Member) metadata.Member {
	return metadata.Member{ID: m.GetId(), Address: m.GetAddress(), Voter: m.GetVoter(), Leader: m.GetLeader()}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func nilIfEmptyMap[K comparable, V any](m map[K]V) map[K]V {
	if len(m) == 0 {
		return nil
	}
	return m
}

func durationNs(ns int64) time.Duration { return time.Duration(ns) }
