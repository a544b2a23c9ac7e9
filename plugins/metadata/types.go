package metadata

import (
	"fmt"
	"time"
)

// Revision orders every committed change of a backend. It is strictly
// increasing and never reused, also across restarts; it need not be
// contiguous. Zero means "before any change".
type Revision int64

// DefaultSessionTimeout is how long a broker session lives without a
// heartbeat when Config.SessionTimeout is zero. Brokers heartbeat every
// DefaultHeartbeatInterval.
const (
	DefaultSessionTimeout    = 6 * time.Second
	DefaultHeartbeatInterval = time.Second
)

// NoLeader is Partition.Leader when the partition has no leader.
const NoLeader int32 = -1

// Listener is one advertised endpoint of a broker.
type Listener struct {
	Name string // listener name, e.g. "PLAINTEXT"
	Host string
	Port int32
}

// BrokerRegistration is what a broker announces when it starts a session.
type BrokerRegistration struct {
	ID int32
	// IncarnationID is new for every process start (a UUID string). It tells
	// a retried registration of this process from another process with the
	// same broker id.
	IncarnationID string
	Listeners     []Listener
	Rack          string
}

// Broker is a registered broker as the backend stores it.
type Broker struct {
	ID            int32
	IncarnationID string
	Listeners     []Listener
	Rack          string
	// Epoch is the revision of the registration that opened this session.
	Epoch int64
	// Fenced is true once the session timed out. A fenced broker is kept in
	// the state (with its last epoch) until it registers again or
	// unregisters; client-facing answers must leave it out.
	Fenced bool
}

// HeartbeatResult is the answer to a successful Heartbeat.
type HeartbeatResult struct {
	// Epoch is the broker epoch of the live session (the one heartbeated).
	Epoch int64
	// SessionTimeout is how long the session lives without a heartbeat.
	SessionTimeout time.Duration
}

// TopicID is a topic's 16-byte id (a UUID, as Kafka's topic id).
type TopicID [16]byte

// IsZero reports whether id is all zeroes.
func (id TopicID) IsZero() bool { return id == TopicID{} }

func (id TopicID) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
}

// PartitionSpec is the initial state of one partition of a new topic.
type PartitionSpec struct {
	// Replicas in assignment order (the first is the preferred leader).
	// Must be non-empty with distinct broker ids.
	Replicas []int32
	// Leader is the initial leader (one of Replicas) or NoLeader.
	Leader int32
	// ISR is the initial in-sync replica set, a subset of Replicas. Empty
	// means all replicas.
	ISR []int32
}

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name string
	// ID is the topic id chosen by the caller; it must not be zero.
	ID         TopicID
	Partitions []PartitionSpec
	Configs    map[string]string
}

// Topic is a topic as stored.
type Topic struct {
	Name       string
	ID         TopicID
	Configs    map[string]string
	Partitions []Partition // index i is partition i
	// Revision at which the topic was created.
	CreatedAt Revision
}

// Partition is the replicated state of one partition.
type Partition struct {
	Topic     string
	Partition int32
	Replicas  []int32 // assignment order
	Leader    int32   // broker id or NoLeader
	// LeaderEpoch is bumped by one every time the leader changes.
	LeaderEpoch int32
	ISR         []int32
	// PartitionEpoch is bumped by one on every change; AlterPartition
	// compares against it.
	PartitionEpoch int32
	// Adding and Removing are the replicas being added and removed by a
	// reassignment in progress (Kafka's addingReplicas/removingReplicas):
	// both subsets of Replicas, disjoint, without duplicates, empty (nil)
	// when no reassignment is in progress. The reassignment's target is
	// Replicas minus Removing; the replicas before it, Replicas minus
	// Adding. They are set and cleared only together with Replicas (see
	// PartitionChange).
	Adding   []int32
	Removing []int32
}

// PartitionChange is a compare-and-set of one partition's state.
type PartitionChange struct {
	Topic     string
	Partition int32
	// ExpectedPartitionEpoch must equal the current PartitionEpoch, or the
	// change fails with ErrStaleEpoch.
	ExpectedPartitionEpoch int32
	Leader                 int32   // new leader (a replica) or NoLeader
	ISR                    []int32 // new ISR, a subset of the replicas
	// Replicas, when non-nil, replaces the assignment (reassignment), and
	// Adding and Removing replace the partition's: nil Adding/Removing
	// means no reassignment in progress. When Replicas is nil the
	// assignment, Adding and Removing are all kept, and Adding and Removing
	// must be empty. A change is ErrInvalid unless Adding and Removing are
	// subsets of the new replicas, disjoint and without duplicates (and
	// Leader and ISR follow the rules of ValidateAssignment).
	Replicas []int32
	Adding   []int32
	Removing []int32
}

// State is the whole metadata at one revision.
type State struct {
	Revision Revision
	// ClusterID identifies the cluster: Kafka's cluster id (Metadata v2+,
	// DescribeCluster), in Kafka's format, 22 characters of unpadded
	// base64url encoding 16 bytes (NewClusterID, ValidateClusterID).
	//
	// The backend creates it once, when the cluster is formed (for stored
	// state that predates cluster ids: the first time the cluster runs a
	// build that has them), and never changes it. Every Snapshot, on every
	// node, returns the same non-empty id; with CapPersistence it survives
	// restarts; two clusters (two Raft data sets, two etcd prefixes) have
	// different ids. No event carries it (it never changes): Apply keeps it,
	// so a State from a Snapshot and the batches after it always has it.
	ClusterID string
	Brokers   map[int32]Broker
	Topics    map[string]Topic
	// NextProducerID is the first producer id not yet handed out.
	NextProducerID int64
}

// EventType says what changed.
type EventType int

const (
	// EventBrokerRegistered: Broker holds the new registration (a new
	// session, or a re-registration with a higher epoch).
	EventBrokerRegistered EventType = iota + 1
	// EventBrokerFenced: Broker holds the broker with Fenced set.
	EventBrokerFenced
	// EventBrokerUnregistered: BrokerID was removed.
	EventBrokerUnregistered
	// EventTopicCreated: Topic holds the whole new topic.
	EventTopicCreated
	// EventTopicDeleted: TopicName was removed.
	EventTopicDeleted
	// EventPartitionChanged: Partition holds the partition's new state.
	EventPartitionChanged
	// EventProducerIDsAllocated: NextProducerID holds the new counter.
	EventProducerIDsAllocated
	// EventTopicUpdated: Topic holds the whole topic after partitions were
	// added or its configs replaced (TopicUpdater).
	EventTopicUpdated
)

func (t EventType) String() string {
	switch t {
	case EventBrokerRegistered:
		return "BrokerRegistered"
	case EventBrokerFenced:
		return "BrokerFenced"
	case EventBrokerUnregistered:
		return "BrokerUnregistered"
	case EventTopicCreated:
		return "TopicCreated"
	case EventTopicDeleted:
		return "TopicDeleted"
	case EventPartitionChanged:
		return "PartitionChanged"
	case EventProducerIDsAllocated:
		return "ProducerIDsAllocated"
	case EventTopicUpdated:
		return "TopicUpdated"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one change. Which fields are set depends on Type.
type Event struct {
	Type           EventType
	Broker         Broker    // EventBrokerRegistered, EventBrokerFenced
	BrokerID       int32     // EventBrokerUnregistered
	Topic          Topic     // EventTopicCreated, EventTopicUpdated
	TopicName      string    // EventTopicDeleted
	Partition      Partition // EventPartitionChanged
	NextProducerID int64     // EventProducerIDsAllocated
}

// WatchBatch is one committed change: every event of one revision.
type WatchBatch struct {
	Revision Revision
	Events   []Event
	// Err, when set, is the last value on the channel: the stream ended
	// because of it (ErrCompacted, ErrUnavailable...). A stream ended by the
	// caller's context closes without an Err batch.
	Err error
}

// Capability names an optional part of the contract a backend implements.
type Capability string

const (
	// CapPersistence: state and revisions survive a restart of every node.
	CapPersistence Capability = "persistence"
	// CapMultiNode: several nodes form one cluster.
	CapMultiNode Capability = "multi-node"
	// CapFailover: the cluster keeps working when any minority of nodes,
	// including the current leader, fails.
	CapFailover Capability = "failover"
	// CapCompact: the backend implements Compactor.
	CapCompact Capability = "compact"
	// CapMembership: the backend implements Membership.
	CapMembership Capability = "membership"
	// CapTopicUpdates: the backend implements TopicUpdater.
	CapTopicUpdates Capability = "topic-updates"
)

// Member is one node of the backend's quorum as a node sees it.
type Member struct {
	ID      string
	Address string
	Voter   bool
	Leader  bool
}

// Info describes a backend and, once configured, its node's view of the
// quorum.
type Info struct {
	Name         string
	Version      string
	Capabilities []Capability
	// NodeID is this node's id; empty before Configure.
	NodeID string
	// Leader is the id of the node that currently orders writes, if the
	// backend has one ("" if unknown or none).
	Leader  string
	Members []Member
}

// Has reports whether the backend declares capability c.
func (i Info) Has(c Capability) bool {
	for _, x := range i.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// Peer is one node of a backend cluster, as given to every node.
type Peer struct {
	ID      string
	Address string
}

// Config is what a backend node is configured with (the Configure RPC of a
// plugin). Settings carries the backend-specific keys, documented by each
// backend.
type Config struct {
	// NodeID identifies this node among Peers.
	NodeID string
	// DataDir is a directory the node owns (may be empty for backends that
	// keep nothing on disk).
	DataDir string
	// Peers lists every node of the backend cluster, this one included, with
	// the address each node serves cluster traffic on. Backends that reach
	// an external store (etcd) may ignore it.
	Peers []Peer
	// SessionTimeout is how long a broker session lives without a
	// heartbeat; zero means DefaultSessionTimeout.
	SessionTimeout time.Duration
	Settings       map[string]string
}

// EffectiveSessionTimeout returns SessionTimeout or its default.
func (c Config) EffectiveSessionTimeout() time.Duration {
	if c.SessionTimeout <= 0 {
		return DefaultSessionTimeout
	}
	return c.SessionTimeout
}
