package metadata

import "context"

// Backend is the metadata store of a chronik cluster, as seen from one node.
//
// All methods are safe for concurrent use. Every method honours ctx. A call
// that cannot complete (no quorum, no leader, the plugin is down) returns an
// error matching ErrUnavailable no later than ctx's deadline; when the
// deadline itself ends the wait, the error matches both ErrUnavailable and
// context.DeadlineExceeded. A call whose ctx is cancelled returns an error
// matching context.Canceled. Writes are atomic and committed (durable on a quorum) when they
// return nil, and are visible to a Snapshot started afterwards on any node.
type Backend interface {
	// RegisterBroker opens a session for reg.ID and returns the stored
	// broker with its epoch (the revision of this registration).
	//
	//   - Same id and same incarnation as the live session: idempotent, the
	//     same epoch comes back and nothing is committed.
	//   - Same id, different incarnation, old session alive:
	//     ErrDuplicateBroker.
	//   - Otherwise (new id, or the old session is fenced or unregistered):
	//     a new session with a new, higher epoch; watched as
	//     EventBrokerRegistered.
	//
	// ErrInvalid for a negative id or an empty incarnation id.
	RegisterBroker(ctx context.Context, reg BrokerRegistration) (Broker, error)

	// Heartbeat keeps the session (id, epoch) alive for another session
	// timeout. It commits nothing. ErrStaleEpoch if epoch is not the
	// broker's current epoch; ErrFenced if the session is fenced,
	// unregistered or unknown (the broker must register again).
	//
	// A broker whose session sees no heartbeat for the session timeout is
	// fenced by a committed change (EventBrokerFenced). Backends fence one
	// broker per committed change, and after a change of the backend's
	// leader no live session is fenced before a full timeout from when the
	// new leader took over (etcd renews its leases so; the Raft backend's
	// new leader starts every session's timer afresh, as Kafka's KRaft
	// controller does on failover), so that a stalled or leaderless store
	// never fences the cluster at once.
	Heartbeat(ctx context.Context, id int32, epoch int64) (HeartbeatResult, error)

	// UnregisterBroker ends the session (controlled shutdown) and removes
	// the broker (EventBrokerUnregistered). Unknown id: nil (idempotent).
	// ErrStaleEpoch if epoch is not the broker's current epoch.
	UnregisterBroker(ctx context.Context, id int32, epoch int64) error

	// CreateTopic creates the topic with all its partitions in one change
	// (EventTopicCreated). Each partition starts with LeaderEpoch 0 and
	// PartitionEpoch 0. ErrTopicExists if the name exists; ErrInvalid for an
	// empty name, a zero id, no partitions, or a bad partition spec.
	CreateTopic(ctx context.Context, spec TopicSpec) (Topic, error)

	// DeleteTopic removes the topic and its partitions in one change
	// (EventTopicDeleted). ErrUnknownTopic if it does not exist.
	DeleteTopic(ctx context.Context, name string) error

	// AlterPartition is a compare-and-set of one partition: it applies only
	// if change.ExpectedPartitionEpoch is the current PartitionEpoch
	// (otherwise ErrStaleEpoch). A different leader bumps LeaderEpoch by one;
	// every successful change bumps PartitionEpoch by one
	// (EventPartitionChanged). ErrUnknownTopic for an unknown topic or
	// partition; ErrInvalid if the leader or ISR are not replicas, or the
	// change's Adding/Removing are not valid (see PartitionChange and
	// ValidateChange). A change with Replicas sets Replicas, Adding and
	// Removing together; one without keeps all three.
	AlterPartition(ctx context.Context, change PartitionChange) (Partition, error)

	// AllocateProducerIDs reserves n (> 0) consecutive producer ids and
	// returns the first. Blocks handed out never overlap, across nodes and
	// restarts (EventProducerIDsAllocated).
	AllocateProducerIDs(ctx context.Context, n int) (first int64, err error)

	// Snapshot returns the whole state at some revision R that is at least
	// every revision committed before the call started (linearizable).
	// Its ClusterID is never empty and the same on every node and every
	// call (see State.ClusterID); a backend that has to create it first
	// does so before answering.
	Snapshot(ctx context.Context) (State, error)

	// Watch returns a channel that delivers every change with revision >
	// from, one WatchBatch per revision, in order, exactly once, without
	// gaps. The channel is closed when ctx ends; a stream that fails for
	// another reason sends one last batch with Err set and closes.
	// ErrCompacted (returned, or as the Err batch) if changes after from are
	// no longer kept. from = 0 watches from the beginning of history if the
	// backend still has it. Watching a revision in the future waits for it.
	Watch(ctx context.Context, from Revision) (<-chan WatchBatch, error)

	// Info describes the backend and this node's view of the quorum.
	Info(ctx context.Context) (Info, error)

	// Close releases the node's resources. Calls after Close fail.
	Close() error
}

// Compactor is implemented by backends that declare CapCompact: Compact
// discards the change history up to and including rev, so that Watch from
// an earlier revision fails with ErrCompacted.
type Compactor interface {
	Compact(ctx context.Context, rev Revision) error
}

// Membership is implemented by backends that declare CapMembership: they
// manage their own quorum (Raft) and can change it at run time, without
// restarting the cluster. Calls may go to any node; a non-leader forwards.
type Membership interface {
	// AddMember adds m (a voter when m.Voter, else a non-voter that
	// replicates but does not vote) or, if m.ID is a member, changes its
	// address or role. It returns once the configuration change committed.
	AddMember(ctx context.Context, m Member) error
	// RemoveMember removes the node with this id from the quorum. Unknown
	// id: nil (idempotent).
	RemoveMember(ctx context.Context, id string) error
}

// TopicUpdater is implemented by backends that declare CapTopicUpdates: it
// changes an existing topic (Kafka's CreatePartitions and topic
// AlterConfigs). Each call is one committed change, watched as
// EventTopicUpdated carrying the whole topic.
type TopicUpdater interface {
	// AddPartitions appends len(parts) partitions to the topic, numbered
	// from expectedCount, if the topic has exactly expectedCount partitions
	// (a compare-and-set: ErrStaleEpoch otherwise). New partitions start at
	// LeaderEpoch 0 and PartitionEpoch 0; an empty ISR means all replicas.
	// ErrUnknownTopic for an unknown topic; ErrInvalid for no partitions or
	// a bad partition spec.
	AddPartitions(ctx context.Context, topic string, expectedCount int32, parts []PartitionSpec) (Topic, error)
	// SetTopicConfigs replaces the topic's configs with configs (nil or
	// empty clears them) if the topic's current configs equal expected, the
	// configs the caller based its change on (a compare-and-set: the two
	// compare as sets of key/value pairs, nil and empty alike; ErrStaleEpoch
	// otherwise, and nothing changes). The check and the replacement are
	// one committed change, so of concurrent callers with the same
	// expectation at most one succeeds and a read-modify-write (Kafka's
	// IncrementalAlterConfigs) never loses another's change.
	// ErrUnknownTopic for an unknown topic.
	//
	// A go-plugin backend built before expected was part of the contract
	// ignores it and replaces unconditionally.
	SetTopicConfigs(ctx context.Context, topic string, expected, configs map[string]string) (Topic, error)
}
