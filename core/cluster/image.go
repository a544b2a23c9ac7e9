package cluster

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Image is an immutable view of the cluster metadata at one Revision, built
// from a backend Snapshot and the watch batches after it. A Cluster
// publishes a new Image for every change it applies; an Image never changes
// once published, so it may be read from any goroutine without locks.
//
// Reads are cheap and allocate nothing: lists are sorted and indexes built
// when the Image is built, and unchanged parts (topics, brokers) are shared
// with the previous Image. Slices and maps inside returned values (Listeners,
// Partitions, Replicas, ISR, Configs, and the slices LiveBrokers, Brokers and
// TopicNames return) are shared by every reader: never modify them.
//
// Every method is safe on a nil *Image and answers as for an empty cluster
// (no brokers, no topics, ControllerID -1).
type Image struct {
	rev metadata.Revision
	// clusterID is the backend's cluster id (never changed by a batch).
	clusterID string

	// brokers holds every registered broker, fenced ones included.
	brokers map[int32]metadata.Broker
	all     []metadata.Broker // every broker, sorted by id
	live    []metadata.Broker // unfenced brokers, sorted by id
	// controller is the lowest live broker id, or -1.
	controller int32

	topics map[string]metadata.Topic
	names  []string                    // sorted topic names
	byID   map[metadata.TopicID]string // topic id -> name
	// topicsGen identifies the topics map: images with the same topicsGen
	// share it (no topic changed between them).
	topicsGen uint64

	nextProducerID int64
}

// Revision is the backend revision this Image reflects: every change up to
// and including it, and none after.
func (img *Image) Revision() metadata.Revision {
	if img == nil {
		return 0
	}
	return img.rev
}

// ClusterID is the cluster's id as the backend's Snapshot gave it
// (metadata.State.ClusterID: Kafka's 22-character form, the same on every
// broker of the cluster): what Metadata (v2+) and DescribeCluster answer.
// It is "" only for a nil Image or a backend that breaks the contract by
// giving none.
func (img *Image) ClusterID() string {
	if img == nil {
		return ""
	}
	return img.clusterID
}

// LiveBrokers returns the unfenced brokers sorted by id: exactly the brokers
// a Metadata response lists. Shared: do not modify.
func (img *Image) LiveBrokers() []metadata.Broker {
	if img == nil {
		return nil
	}
	return img.live
}

// Brokers returns every registered broker, fenced ones included (Fenced
// set), sorted by id: for status displays, never for client-facing broker
// lists. Shared: do not modify.
func (img *Image) Brokers() []metadata.Broker {
	if img == nil {
		return nil
	}
	return img.all
}

// Broker returns the registered broker with this id, fenced or not; ok is
// false if no broker with this id is registered.
func (img *Image) Broker(id int32) (b metadata.Broker, ok bool) {
	if img == nil {
		return metadata.Broker{}, false
	}
	b, ok = img.brokers[id]
	return b, ok
}

// IsLive reports whether broker id is registered and not fenced.
func (img *Image) IsLive(id int32) bool {
	if img == nil {
		return false
	}
	b, ok := img.brokers[id]
	return ok && !b.Fenced
}

// ControllerID is the id a Metadata or DescribeCluster response names as
// the controller: the lowest id among the live brokers, so that every
// broker with the same image answers the same live broker. -1 when no
// broker is live. (chronik has no controller role: admin requests are
// answered by whichever broker receives them.)
func (img *Image) ControllerID() int32 {
	if img == nil {
		return -1
	}
	return img.controller
}

// TopicNames returns the names of every topic, sorted. Shared: do not
// modify.
func (img *Image) TopicNames() []string {
	if img == nil {
		return nil
	}
	return img.names
}

// Topic returns the topic with this name; ok is false if there is none.
// Topic.Partitions[i] is partition i.
func (img *Image) Topic(name string) (t metadata.Topic, ok bool) {
	if img == nil {
		return metadata.Topic{}, false
	}
	t, ok = img.topics[name]
	return t, ok
}

// TopicByID returns the topic with this id; ok is false if there is none.
func (img *Image) TopicByID(id metadata.TopicID) (t metadata.Topic, ok bool) {
	if img == nil {
		return metadata.Topic{}, false
	}
	name, ok := img.byID[id]
	if !ok {
		return metadata.Topic{}, false
	}
	t, ok = img.topics[name]
	return t, ok
}

// Partition returns partition p of the topic; ok is false if the topic or
// the partition does not exist (UNKNOWN_TOPIC_OR_PARTITION).
func (img *Image) Partition(topic string, p int32) (part metadata.Partition, ok bool) {
	if img == nil {
		return metadata.Partition{}, false
	}
	t, ok := img.topics[topic]
	if !ok || p < 0 || int(p) >= len(t.Partitions) {
		return metadata.Partition{}, false
	}
	return t.Partitions[p], true
}

// LeaderFor returns the live leader of partition p of the topic and its
// leader epoch. ok is false when the partition exists but has no live
// leader (no leader, or its leader is fenced or unregistered): answer
// LEADER_NOT_AVAILABLE. ok is also false for a partition that does not
// exist; tell the two apart with Partition. epoch is the partition's leader
// epoch whenever the partition exists.
func (img *Image) LeaderFor(topic string, p int32) (leader metadata.Broker, epoch int32, ok bool) {
	part, exists := img.Partition(topic, p)
	if !exists {
		return metadata.Broker{}, 0, false
	}
	leader, ok = img.LiveLeader(part)
	return leader, part.LeaderEpoch, ok
}

// LiveLeader is LeaderFor for a partition already in hand (from Topic or
// Partition of this Image): its leader if that broker is registered and
// not fenced. Cheaper than LeaderFor when walking a topic's partitions.
func (img *Image) LiveLeader(p metadata.Partition) (leader metadata.Broker, ok bool) {
	if img == nil || p.Leader == metadata.NoLeader {
		return metadata.Broker{}, false
	}
	b, found := img.brokers[p.Leader]
	if !found || b.Fenced {
		return metadata.Broker{}, false
	}
	return b, true
}

// NextProducerID is the backend's producer-id counter: the first id not yet
// handed out by AllocateProducerIDs.
func (img *Image) NextProducerID() int64 {
	if img == nil {
		return 0
	}
	return img.nextProducerID
}

// ChangedTopics returns the names (sorted) of the topics that differ
// between old and img: created, deleted, re-created, or changed in any
// partition or config. It is for subscribers of Current that react to
// leadership changes without rescanning every partition: unchanged topics
// are shared between images, so this costs one map lookup per topic, and
// nothing when no topic changed. After a re-snapshot every topic counts as
// changed. old may be nil (every topic of img is new).
func (img *Image) ChangedTopics(old *Image) []string {
	if img == nil && old == nil || img != nil && old != nil && img.topicsGen == old.topicsGen {
		return nil
	}
	var out []string
	for _, name := range img.TopicNames() {
		t := img.topics[name]
		o, ok := old.Topic(name)
		if !ok || o.ID != t.ID || len(o.Partitions) != len(t.Partitions) || len(t.Partitions) == 0 || &o.Partitions[0] != &t.Partitions[0] {
			out = append(out, name)
		}
	}
	for _, name := range old.TopicNames() {
		if _, ok := img.Topic(name); !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// topicsGens numbers topic maps (see Image.topicsGen).
var topicsGens atomic.Uint64

// newImage builds an Image from a whole State, which it takes over (the
// caller must not use st afterwards).
func newImage(st metadata.State) *Image {
	img := &Image{
		rev:            st.Revision,
		clusterID:      st.ClusterID,
		brokers:        st.Brokers,
		topics:         st.Topics,
		nextProducerID: st.NextProducerID,
	}
	if img.brokers == nil {
		img.brokers = map[int32]metadata.Broker{}
	}
	if img.topics == nil {
		img.topics = map[string]metadata.Topic{}
	}
	img.topicsGen = topicsGens.Add(1)
	img.byID = make(map[metadata.TopicID]string, len(img.topics))
	for name, t := range img.topics {
		img.byID[t.ID] = name
	}
	img.indexBrokers()
	img.indexNames()
	return img
}

// indexBrokers rebuilds all, live and controller from brokers.
func (img *Image) indexBrokers() {
	img.all = slices.SortedFunc(maps.Values(img.brokers), func(a, b metadata.Broker) int { return cmp.Compare(a.ID, b.ID) })
	img.live = make([]metadata.Broker, 0, len(img.all))
	for _, b := range img.all {
		if !b.Fenced {
			img.live = append(img.live, b)
		}
	}
	img.controller = -1
	if len(img.live) > 0 {
		img.controller = img.live[0].ID
	}
}

// indexNames rebuilds the sorted topic names from topics.
func (img *Image) indexNames() {
	img.names = slices.Sorted(maps.Keys(img.topics))
}

// builder applies watch batches to a copy of a published Image. The first
// write to the broker or topic maps copies them (copy-on-write, once per
// builder); topics untouched by the batches stay shared with the base. An
// Image from build is never modified afterwards.
//
// A builder whose apply failed holds part of a batch and must be dropped.
type builder struct {
	img *Image // the working copy; base's maps until owned

	brokersOwned, topicsOwned, idsOwned bool
	brokersDirty, namesDirty            bool
}

func newBuilder(base *Image) *builder {
	img := *base
	return &builder{img: &img}
}

// revision is the revision of the last batch applied.
func (b *builder) revision() metadata.Revision { return b.img.rev }

func (b *builder) ownBrokers() {
	if !b.brokersOwned {
		b.img.brokers = maps.Clone(b.img.brokers)
		b.brokersOwned = true
	}
	b.brokersDirty = true
}

func (b *builder) ownTopics() {
	if !b.topicsOwned {
		b.img.topics = maps.Clone(b.img.topics)
		b.img.topicsGen = topicsGens.Add(1)
		b.topicsOwned = true
	}
}

// ownIDs is ownTopics for changes of the topic set (byID too).
func (b *builder) ownIDs() {
	b.ownTopics()
	if !b.idsOwned {
		b.img.byID = maps.Clone(b.img.byID)
		b.idsOwned = true
	}
}

// apply applies one batch. The error wraps errGap when the batch does not
// follow the image (not newer, or names a topic or partition the image does
// not have), or is the batch's own Err.
func (b *builder) apply(batch metadata.WatchBatch) error {
	if batch.Err != nil {
		return batch.Err
	}
	if batch.Revision <= b.img.rev {
		return fmt.Errorf("cluster: batch at revision %d after image revision %d: %w", batch.Revision, b.img.rev, errGap)
	}
	for _, e := range batch.Events {
		if err := b.applyEvent(e); err != nil {
			return fmt.Errorf("cluster: revision %d: %v: %w", batch.Revision, err, errGap)
		}
	}
	b.img.rev = batch.Revision
	return nil
}

func (b *builder) applyEvent(e metadata.Event) error {
	img := b.img
	switch e.Type {
	case metadata.EventBrokerRegistered, metadata.EventBrokerFenced:
		b.ownBrokers()
		img.brokers[e.Broker.ID] = e.Broker.Clone()
	case metadata.EventBrokerUnregistered:
		if _, ok := img.brokers[e.BrokerID]; ok {
			b.ownBrokers()
			delete(img.brokers, e.BrokerID)
		}
	case metadata.EventTopicCreated:
		b.ownIDs()
		if old, ok := img.topics[e.Topic.Name]; ok {
			delete(img.byID, old.ID)
		} else {
			b.namesDirty = true
		}
		img.topics[e.Topic.Name] = e.Topic.Clone()
		img.byID[e.Topic.ID] = e.Topic.Name
	case metadata.EventTopicUpdated:
		old, ok := img.topics[e.Topic.Name]
		if !ok {
			return fmt.Errorf("update of unknown topic %q", e.Topic.Name)
		}
		b.ownIDs()
		delete(img.byID, old.ID)
		img.topics[e.Topic.Name] = e.Topic.Clone()
		img.byID[e.Topic.ID] = e.Topic.Name
	case metadata.EventTopicDeleted:
		old, ok := img.topics[e.TopicName]
		if !ok {
			return fmt.Errorf("delete of unknown topic %q", e.TopicName)
		}
		b.ownIDs()
		delete(img.topics, e.TopicName)
		delete(img.byID, old.ID)
		b.namesDirty = true
	case metadata.EventPartitionChanged:
		t, ok := img.topics[e.Partition.Topic]
		if !ok || e.Partition.Partition < 0 || int(e.Partition.Partition) >= len(t.Partitions) {
			return fmt.Errorf("change of unknown partition %s/%d", e.Partition.Topic, e.Partition.Partition)
		}
		b.ownTopics()
		t.Partitions = slices.Clone(t.Partitions)
		t.Partitions[e.Partition.Partition] = e.Partition.Clone()
		img.topics[t.Name] = t
	case metadata.EventProducerIDsAllocated:
		img.nextProducerID = e.NextProducerID
	default:
		return fmt.Errorf("unknown event type %v", e.Type)
	}
	return nil
}

// build finishes the indexes and returns the new Image. The builder must
// not be used afterwards.
func (b *builder) build() *Image {
	img := b.img
	if b.brokersDirty {
		img.indexBrokers()
	}
	if b.namesDirty {
		img.indexNames()
	}
	b.img = nil
	return img
}
