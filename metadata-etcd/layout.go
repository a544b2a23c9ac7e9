package etcdmeta

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// The key layout under the cluster prefix P is drawn in doc.go. Every value
// is JSON; the encoders and decoders below are the only code that touches
// them.

const (
	dirBrokers    = "brokers/"
	dirSessions   = "sessions/"
	dirTopics     = "topics/"
	dirPartitions = "partitions/"
	keyProducerID = "producer-ids"
	keyChanged    = "changed"
	keyClusterID  = "cluster-id"
)

// layout names the keys of one cluster.
type layout struct{ prefix string }

func (l layout) broker(id int32) string  { return l.prefix + dirBrokers + fmt.Sprintf("%010d", id) }
func (l layout) session(id int32) string { return l.prefix + dirSessions + fmt.Sprintf("%010d", id) }
func (l layout) brokers() string         { return l.prefix + dirBrokers }
func (l layout) sessions() string        { return l.prefix + dirSessions }
func (l layout) producerIDs() string     { return l.prefix + keyProducerID }
func (l layout) changed() string         { return l.prefix + keyChanged }
func (l layout) clusterID() string       { return l.prefix + keyClusterID }
func (l layout) topic(name string) string {
	return l.prefix + dirTopics + url.PathEscape(name)
}

// partitions is the directory of a topic's partition chunks.
func (l layout) partitions(name string) string {
	return l.prefix + dirPartitions + url.PathEscape(name) + "/"
}

// chunk is the key of the chunk whose first partition is first.
func (l layout) chunk(name string, first int) string {
	return l.partitions(name) + fmt.Sprintf("%010d", first)
}

// keyKind says what a key under the prefix is.
type keyKind int

const (
	kindUnknown keyKind = iota
	kindBroker
	kindSession
	kindTopic
	kindChunk
	kindProducerIDs
	kindChanged
	kindClusterID
)

// parsedKey is a key under the prefix, taken apart.
type parsedKey struct {
	kind  keyKind
	id    int32  // kindBroker, kindSession
	topic string // kindTopic, kindChunk
	first int    // kindChunk
}

// parse takes a key apart. Keys that do not follow the layout (another
// tool's, or a nested prefix's) are kindUnknown and ignored by readers.
func (l layout) parse(key []byte) parsedKey {
	rel, ok := strings.CutPrefix(string(key), l.prefix)
	if !ok {
		return parsedKey{}
	}
	parseID := func(s string) (int32, bool) {
		if len(s) != 10 {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 32)
		return int32(n), err == nil && n >= 0
	}
	switch {
	case rel == keyProducerID:
		return parsedKey{kind: kindProducerIDs}
	case rel == keyChanged:
		return parsedKey{kind: kindChanged}
	case rel == keyClusterID:
		return parsedKey{kind: kindClusterID}
	case strings.HasPrefix(rel, dirBrokers):
		if id, ok := parseID(rel[len(dirBrokers):]); ok {
			return parsedKey{kind: kindBroker, id: id}
		}
	case strings.HasPrefix(rel, dirSessions):
		if id, ok := parseID(rel[len(dirSessions):]); ok {
			return parsedKey{kind: kindSession, id: id}
		}
	case strings.HasPrefix(rel, dirTopics):
		esc := rel[len(dirTopics):]
		if strings.Contains(esc, "/") {
			return parsedKey{}
		}
		if name, err := url.PathUnescape(esc); err == nil && name != "" {
			return parsedKey{kind: kindTopic, topic: name}
		}
	case strings.HasPrefix(rel, dirPartitions):
		esc, idx, ok := strings.Cut(rel[len(dirPartitions):], "/")
		if !ok || len(idx) != 10 {
			return parsedKey{}
		}
		name, err := url.PathUnescape(esc)
		first, err2 := strconv.Atoi(idx)
		if err == nil && err2 == nil && name != "" && first >= 0 {
			return parsedKey{kind: kindChunk, topic: name, first: first}
		}
	}
	return parsedKey{}
}

// brokerRecord is the value of brokers/<id>. Epoch is zero when the record
// was written by the registration itself: the epoch is then the record's
// mod revision (the registration's revision, unknown before it commits).
// Fencing rewrites the record with the epoch spelled out.
type brokerRecord struct {
	ID          int32            `json:"id"`
	Incarnation string           `json:"incarnation"`
	Listeners   []listenerRecord `json:"listeners,omitempty"`
	Rack        string           `json:"rack,omitempty"`
	Epoch       int64            `json:"epoch,omitempty"`
	Fenced      bool             `json:"fenced,omitempty"`
}

type listenerRecord struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

func newBrokerRecord(reg metadata.BrokerRegistration) brokerRecord {
	r := brokerRecord{ID: reg.ID, Incarnation: reg.IncarnationID, Rack: reg.Rack}
	for _, l := range reg.Listeners {
		r.Listeners = append(r.Listeners, listenerRecord(l))
	}
	return r
}

// decodeBroker decodes a brokers/<id> key-value.
func decodeBroker(kv *mvccpb.KeyValue) (metadata.Broker, error) {
	var r brokerRecord
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return metadata.Broker{}, fmt.Errorf("broker record %q: %w", kv.Key, err)
	}
	b := metadata.Broker{ID: r.ID, IncarnationID: r.Incarnation, Rack: r.Rack, Epoch: r.Epoch, Fenced: r.Fenced}
	if b.Epoch == 0 {
		b.Epoch = kv.ModRevision
	}
	for _, l := range r.Listeners {
		b.Listeners = append(b.Listeners, metadata.Listener(l))
	}
	return b, nil
}

// encodeBroker is the record of b as the fencer writes it (epoch spelled
// out).
func encodeBroker(b metadata.Broker) string {
	r := brokerRecord{ID: b.ID, Incarnation: b.IncarnationID, Rack: b.Rack, Epoch: b.Epoch, Fenced: b.Fenced}
	for _, l := range b.Listeners {
		r.Listeners = append(r.Listeners, listenerRecord(l))
	}
	return mustJSON(r)
}

// topicRecord is the value of topics/<name>. Its create revision is the
// topic's CreatedAt.
type topicRecord struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"` // 32 hex digits
	Configs    map[string]string `json:"configs,omitempty"`
	Partitions int               `json:"partitions"`
	// ChunkSize is how many partitions each partitions/<name>/<first> key
	// holds (the last one may hold fewer).
	ChunkSize int `json:"chunkSize"`
}

// chunkRecord is the value of partitions/<name>/<first>: partitions first,
// first+1, ... Changed is the partition the last AlterPartition of the
// chunk changed, -1 when the chunk was written by CreateTopic.
type chunkRecord struct {
	Changed    int               `json:"changed"`
	Partitions []partitionRecord `json:"p"`
}

// partitionRecord is one partition in a chunk, with short field names
// because a topic's partitions must fit in one etcd request.
type partitionRecord struct {
	Replicas       []int32 `json:"r"`
	Leader         int32   `json:"l"`
	LeaderEpoch    int32   `json:"le"`
	ISR            []int32 `json:"i"`
	PartitionEpoch int32   `json:"pe"`
	// Adding and Removing: the reassignment in progress, absent (nil) when
	// none, so records written before they existed decode unchanged.
	Adding   []int32 `json:"a,omitempty"`
	Removing []int32 `json:"d,omitempty"`
}

func toPartitionRecord(p metadata.Partition) partitionRecord {
	return partitionRecord{Replicas: p.Replicas, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, ISR: p.ISR, PartitionEpoch: p.PartitionEpoch,
		Adding: p.Adding, Removing: p.Removing}
}

func (r partitionRecord) partition(topic string, index int) metadata.Partition {
	return metadata.Partition{Topic: topic, Partition: int32(index), Replicas: slices.Clone(r.Replicas),
		Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, ISR: slices.Clone(r.ISR), PartitionEpoch: r.PartitionEpoch,
		Adding: slices.Clone(r.Adding), Removing: slices.Clone(r.Removing)}
}

func decodeTopicRecord(kv *mvccpb.KeyValue) (topicRecord, metadata.TopicID, error) {
	var r topicRecord
	var id metadata.TopicID
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return r, id, fmt.Errorf("topic record %q: %w", kv.Key, err)
	}
	raw, err := hex.DecodeString(r.ID)
	if err != nil || len(raw) != len(id) {
		return r, id, fmt.Errorf("topic record %q: bad topic id %q", kv.Key, r.ID)
	}
	copy(id[:], raw)
	if r.Partitions <= 0 || r.ChunkSize <= 0 {
		return r, id, fmt.Errorf("topic record %q: %d partitions in chunks of %d", kv.Key, r.Partitions, r.ChunkSize)
	}
	return r, id, nil
}

func decodeChunk(kv *mvccpb.KeyValue) (chunkRecord, error) {
	var c chunkRecord
	if err := json.Unmarshal(kv.Value, &c); err != nil {
		return c, fmt.Errorf("partition chunk %q: %w", kv.Key, err)
	}
	if len(c.Partitions) == 0 {
		return c, fmt.Errorf("partition chunk %q holds no partitions", kv.Key)
	}
	return c, nil
}

// assembleTopic builds a topic from its record and its chunks (by first
// partition), checking that the chunks cover exactly its partitions.
func assembleTopic(tkv *mvccpb.KeyValue, chunks map[int]*mvccpb.KeyValue) (metadata.Topic, error) {
	r, id, err := decodeTopicRecord(tkv)
	if err != nil {
		return metadata.Topic{}, err
	}
	t := metadata.Topic{Name: r.Name, ID: id, Configs: maps.Clone(r.Configs),
		Partitions: make([]metadata.Partition, 0, r.Partitions), CreatedAt: metadata.Revision(tkv.CreateRevision)}
	for first := 0; first < r.Partitions; first += r.ChunkSize {
		ckv, ok := chunks[first]
		if !ok {
			return metadata.Topic{}, fmt.Errorf("topic %q: partition chunk %d missing", r.Name, first)
		}
		c, err := decodeChunk(ckv)
		if err != nil {
			return metadata.Topic{}, err
		}
		if want := min(r.ChunkSize, r.Partitions-first); len(c.Partitions) != want {
			return metadata.Topic{}, fmt.Errorf("topic %q: partition chunk %d holds %d partitions, want %d", r.Name, first, len(c.Partitions), want)
		}
		for i, p := range c.Partitions {
			t.Partitions = append(t.Partitions, p.partition(r.Name, first+i))
		}
	}
	if len(chunks) != (r.Partitions+r.ChunkSize-1)/r.ChunkSize {
		return metadata.Topic{}, fmt.Errorf("topic %q: %d partition chunks, want %d", r.Name, len(chunks), (r.Partitions+r.ChunkSize-1)/r.ChunkSize)
	}
	return t, nil
}

// chunkSize is how many partitions a topic of n partitions puts in one key:
// 1 (a key per partition) while the topic record, the changed key and one
// key per partition fit in one transaction of maxOps operations, otherwise
// as few as make the chunks fit.
func chunkSize(n, maxOps int) int {
	room := maxOps - 2
	return max(1, (n+room-1)/room)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs, maps and slices of strings and numbers are
		// encoded here.
		panic(fmt.Sprintf("etcdmeta: encoding %T: %v", v, err))
	}
	return string(b)
}
