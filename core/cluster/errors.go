package cluster

import (
	"errors"
	"fmt"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Sentinel errors. Every error this package returns wraps one of them (or a
// metadata sentinel, or a context error) with %w; match them with
// errors.Is. The protocol layer translates them to Kafka error codes in one
// place; the Kafka code each one stands for is named below.
var (
	// ErrClosed: the Cluster is closed (or closing).
	ErrClosed = errors.New("cluster: closed")
	// ErrInvalidConfig: Config.Validate refused the configuration.
	ErrInvalidConfig = errors.New("cluster: invalid config")
	// ErrNoImage: no metadata image has been loaded yet (the backend has not
	// answered a Snapshot since start). It matches metadata.ErrUnavailable:
	// retriable (LEADER_NOT_AVAILABLE, REQUEST_TIMED_OUT...).
	ErrNoImage = fmt.Errorf("cluster: no metadata image yet: %w", metadata.ErrUnavailable)

	// ErrInvalidTopic: the topic name breaks Kafka's rules or collides with
	// an existing name (INVALID_TOPIC_EXCEPTION).
	ErrInvalidTopic = errors.New("cluster: invalid topic")
	// ErrInvalidPartitions: a partition count out of range
	// (INVALID_PARTITIONS).
	ErrInvalidPartitions = errors.New("cluster: invalid number of partitions")
	// ErrInvalidReplicationFactor: a replication factor out of range, e.g.
	// above the number of live brokers (INVALID_REPLICATION_FACTOR).
	ErrInvalidReplicationFactor = errors.New("cluster: invalid replication factor")
	// ErrInvalidReplicaAssignment: a manual assignment that is malformed or
	// names unknown brokers (INVALID_REPLICA_ASSIGNMENT).
	ErrInvalidReplicaAssignment = errors.New("cluster: invalid replica assignment")
	// ErrInvalidRequest: arguments that contradict each other, e.g. a manual
	// assignment together with a partition count (INVALID_REQUEST).
	ErrInvalidRequest = errors.New("cluster: invalid request")
	// ErrTopicExists: the topic exists (TOPIC_ALREADY_EXISTS). It also
	// matches metadata.ErrTopicExists.
	ErrTopicExists = fmt.Errorf("cluster: topic already exists: %w", metadata.ErrTopicExists)
	// ErrUnknownTopic: the topic does not exist
	// (UNKNOWN_TOPIC_OR_PARTITION). It also matches metadata.ErrUnknownTopic.
	ErrUnknownTopic = fmt.Errorf("cluster: unknown topic: %w", metadata.ErrUnknownTopic)
	// ErrUnsupported: the backend lacks an optional capability the request
	// needs (CreatePartitions and topic configs need metadata.TopicUpdater).
	// It also matches metadata.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("cluster: not supported by the metadata backend: %w", metadata.ErrUnsupported)
)

// errGap marks a watch batch that cannot be applied to the image (it is not
// newer, or names something the image does not have): the feed has a gap
// and the image must be rebuilt from a new Snapshot.
var errGap = errors.New("cluster: watch batch does not follow the image")

// errStreamEnded is the cause when a watch stream closes without an Err
// batch while our context is alive.
var errStreamEnded = fmt.Errorf("cluster: watch stream closed without an error: %w", metadata.ErrUnavailable)
