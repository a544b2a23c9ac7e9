package protocol

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// The data-path APIs (Produce, Fetch, ListOffsets, DeleteRecords,
// InitProducerId, OffsetForLeaderEpoch, DescribeLogDirs) take their
// partitions from Broker.Partitions and the leaders they name from
// Broker.Cluster's image. This file holds what they share: the one
// translation of partition and log errors to Kafka codes, and partition
// lookup.

// partitionError returns the Kafka error for an error of core/partition or
// core/commitlog (nil for nil):
//
//	partition.ErrNotLeader, ErrClosed, commitlog.ErrClosed  NOT_LEADER_OR_FOLLOWER
//	partition.ErrFencedLeaderEpoch                          FENCED_LEADER_EPOCH
//	partition.ErrUnknownLeaderEpoch                         UNKNOWN_LEADER_EPOCH
//	partition.ErrInvalidRequiredAcks                        INVALID_REQUIRED_ACKS
//	partition.ErrNotEnoughReplicas                          NOT_ENOUGH_REPLICAS
//	partition.ErrNotEnoughReplicasAfterAppend               NOT_ENOUGH_REPLICAS_AFTER_APPEND
//	partition.ErrTimeout                                    REQUEST_TIMED_OUT
//	partition.ErrOutOfOrderSequence                         OUT_OF_ORDER_SEQUENCE_NUMBER
//	partition.ErrInvalidProducerEpoch                       INVALID_PRODUCER_EPOCH
//	partition.ErrTransactionsUnsupported                    TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//	partition.ErrProducerIDs                                COORDINATOR_LOAD_IN_PROGRESS
//	partition.ErrOffsetNotAvailable                         OFFSET_NOT_AVAILABLE
//	commitlog.ErrCorruptBatch                               CORRUPT_MESSAGE
//	commitlog.ErrInvalidRecord                              INVALID_RECORD
//	commitlog.ErrBatchTooLarge                              MESSAGE_TOO_LARGE
//	commitlog.ErrOffsetOutOfRange                           OFFSET_OUT_OF_RANGE
//	commitlog.ErrLogFailed, ErrCorruptLog                   KAFKA_STORAGE_ERROR
//	errZstdBeforeV7                                         UNSUPPORTED_COMPRESSION_TYPE
//	anything else                                           UNKNOWN_SERVER_ERROR
func partitionError(err error) *kerr.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errZstdBeforeV7):
		return kerr.UnsupportedCompressionType
	case errors.Is(err, partition.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch
	case errors.Is(err, partition.ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch
	case errors.Is(err, partition.ErrNotLeader), errors.Is(err, partition.ErrClosed), errors.Is(err, commitlog.ErrClosed):
		return kerr.NotLeaderForPartition
	case errors.Is(err, partition.ErrInvalidRequiredAcks):
		return kerr.InvalidRequiredAcks
	case errors.Is(err, partition.ErrNotEnoughReplicasAfterAppend):
		return kerr.NotEnoughReplicasAfterAppend
	case errors.Is(err, partition.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas
	case errors.Is(err, partition.ErrTimeout):
		return kerr.RequestTimedOut
	case errors.Is(err, partition.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber
	case errors.Is(err, partition.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch
	case errors.Is(err, partition.ErrTransactionsUnsupported):
		return kerr.TransactionalIDAuthorizationFailed
	case errors.Is(err, partition.ErrProducerIDs):
		return kerr.CoordinatorLoadInProgress
	case errors.Is(err, partition.ErrOffsetNotAvailable):
		return kerr.OffsetNotAvailable
	case errors.Is(err, commitlog.ErrBatchTooLarge):
		return kerr.MessageTooLarge
	case errors.Is(err, commitlog.ErrCorruptBatch):
		return kerr.CorruptMessage
	case errors.Is(err, commitlog.ErrInvalidRecord):
		return kerr.InvalidRecord
	case errors.Is(err, commitlog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange
	case errors.Is(err, commitlog.ErrLogFailed), errors.Is(err, commitlog.ErrCorruptLog):
		return kerr.KafkaStorageError
	default:
		return kerr.UnknownServerError
	}
}

// errZstdBeforeV7: a Produce below version 7 with a zstd batch (Kafka
// refuses it: older clients cannot read zstd).
var errZstdBeforeV7 = errors.New("protocol: zstd compression needs Produce version 7 or later")

// partitionErrorMessage is err's text for the responses that carry one
// (Produce v8+), nil for nil.
func partitionErrorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// leaderInfo is what a NOT_LEADER_OR_FOLLOWER answer tells about the
// partition's leader (Produce v10+, Fetch v12+): the live leader and its
// epoch, or -1, -1 when the image has none.
type leaderInfo struct {
	id, epoch int32
	broker    metadata.Broker // valid when id >= 0
}

// currentLeader looks the partition's leader up in img.
func currentLeader(img *cluster.Image, topic string, index int32) leaderInfo {
	part, ok := img.Partition(topic, index)
	if !ok {
		return leaderInfo{id: -1, epoch: -1}
	}
	br, live := img.LiveLeader(part)
	if !live || len(br.Listeners) == 0 {
		return leaderInfo{id: -1, epoch: -1}
	}
	return leaderInfo{id: part.Leader, epoch: part.LeaderEpoch, broker: br}
}

// lookupPartition returns the replica of topic's partition index hosted
// here, or the Kafka error to answer: UNKNOWN_TOPIC_OR_PARTITION when the
// image has no such partition, NOT_LEADER_OR_FOLLOWER when it has one this
// broker does not host (or has not opened yet, or holds for an older
// incarnation of the topic). Whether the hosted replica leads is its own
// methods' answer. img may be nil (no image yet: NOT_LEADER_OR_FOLLOWER,
// retriable); b.Partitions may be nil (a broker without data path).
func lookupPartition(b *Broker, img *cluster.Image, topic string, index int32) (*partition.Partition, *kerr.Error) {
	t, known := img.Topic(topic)
	if img != nil && (!known || index < 0 || int(index) >= len(t.Partitions)) {
		return nil, kerr.UnknownTopicOrPartition
	}
	if b.Partitions == nil {
		return nil, kerr.NotLeaderForPartition
	}
	p, ok := b.Partitions.Partition(topic, index)
	if !ok || (known && p.TopicID() != t.ID) {
		return nil, kerr.NotLeaderForPartition
	}
	return p, nil
}

// brokerImage returns the cluster image, nil when the broker has none (or
// no Cluster, in tests).
func brokerImage(b *Broker) *cluster.Image {
	if b.Cluster == nil {
		return nil
	}
	return b.Cluster.Image()
}
