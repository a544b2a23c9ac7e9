package metadata

import (
	"fmt"
	"maps"
	"slices"
)

// NewState returns an empty state at revision 0.
func NewState() State {
	return State{Brokers: map[int32]Broker{}, Topics: map[string]Topic{}}
}

// Clone returns a deep copy of s.
func (s State) Clone() State {
	c := State{Revision: s.Revision, ClusterID: s.ClusterID, NextProducerID: s.NextProducerID,
		Brokers: make(map[int32]Broker, len(s.Brokers)),
		Topics:  make(map[string]Topic, len(s.Topics))}
	for id, b := range s.Brokers {
		c.Brokers[id] = b.Clone()
	}
	for n, t := range s.Topics {
		c.Topics[n] = t.Clone()
	}
	return c
}

// Clone returns a deep copy of b.
func (b Broker) Clone() Broker {
	b.Listeners = slices.Clone(b.Listeners)
	return b
}

// Clone returns a deep copy of t.
func (t Topic) Clone() Topic {
	t.Configs = maps.Clone(t.Configs)
	ps := make([]Partition, len(t.Partitions))
	for i, p := range t.Partitions {
		ps[i] = p.Clone()
	}
	t.Partitions = ps
	return t
}

// Clone returns a deep copy of p.
func (p Partition) Clone() Partition {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	p.Adding = slices.Clone(p.Adding)
	p.Removing = slices.Clone(p.Removing)
	return p
}

// Apply applies one watch batch to s. It fails if the batch carries an
// error, is not newer than s, or names something s does not have (a sign of
// a gap in the feed); s may then hold part of the batch and must be replaced
// by a new Snapshot.
func (s *State) Apply(b WatchBatch) error {
	if b.Err != nil {
		return b.Err
	}
	if b.Revision <= s.Revision {
		return fmt.Errorf("metadata: batch revision %d is not after state revision %d", b.Revision, s.Revision)
	}
	if s.Brokers == nil {
		s.Brokers = map[int32]Broker{}
	}
	if s.Topics == nil {
		s.Topics = map[string]Topic{}
	}
	for _, e := range b.Events {
		if err := s.applyEvent(e); err != nil {
			return fmt.Errorf("metadata: revision %d: %w", b.Revision, err)
		}
	}
	s.Revision = b.Revision
	return nil
}

func (s *State) applyEvent(e Event) error {
	switch e.Type {
	case EventBrokerRegistered, EventBrokerFenced:
		s.Brokers[e.Broker.ID] = e.Broker.Clone()
	case EventBrokerUnregistered:
		delete(s.Brokers, e.BrokerID)
	case EventTopicCreated:
		s.Topics[e.Topic.Name] = e.Topic.Clone()
	case EventTopicUpdated:
		if _, ok := s.Topics[e.Topic.Name]; !ok {
			return fmt.Errorf("update of unknown topic %q", e.Topic.Name)
		}
		s.Topics[e.Topic.Name] = e.Topic.Clone()
	case EventTopicDeleted:
		if _, ok := s.Topics[e.TopicName]; !ok {
			return fmt.Errorf("delete of unknown topic %q", e.TopicName)
		}
		delete(s.Topics, e.TopicName)
	case EventPartitionChanged:
		t, ok := s.Topics[e.Partition.Topic]
		if !ok || e.Partition.Partition < 0 || int(e.Partition.Partition) >= len(t.Partitions) {
			return fmt.Errorf("change of unknown partition %s/%d", e.Partition.Topic, e.Partition.Partition)
		}
		t.Partitions = slices.Clone(t.Partitions)
		t.Partitions[e.Partition.Partition] = e.Partition.Clone()
		s.Topics[t.Name] = t
	case EventProducerIDsAllocated:
		s.NextProducerID = e.NextProducerID
	default:
		return fmt.Errorf("unknown event type %v", e.Type)
	}
	return nil
}

// LiveBrokers returns the unfenced brokers sorted by id.
func (s State) LiveBrokers() []Broker {
	var out []Broker
	for _, b := range s.Brokers {
		if !b.Fenced {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b Broker) int { return int(a.ID) - int(b.ID) })
	return out
}
