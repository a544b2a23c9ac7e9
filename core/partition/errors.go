package partition

import "errors"

// Sentinel errors. Methods return them wrapped with %w and a description of
// what failed; match them with errors.Is. Errors of the log itself
// (commitlog.ErrCorruptBatch, ErrInvalidRecord, ErrBatchTooLarge,
// ErrOffsetOutOfRange, ErrLogFailed) are passed through wrapped. The
// protocol layer maps both to Kafka error codes in one place; the code each
// one stands for is named below.
var (
	// ErrNotLeader: this broker does not lead the partition (it is a
	// follower, the partition is being opened or closed, or it was
	// deleted) — NOT_LEADER_OR_FOLLOWER.
	ErrNotLeader = errors.New("partition: not the leader")
	// ErrFencedLeaderEpoch: the request's current leader epoch is older
	// than ours — FENCED_LEADER_EPOCH.
	ErrFencedLeaderEpoch = errors.New("partition: fenced leader epoch")
	// ErrUnknownLeaderEpoch: the request's current leader epoch is newer
	// than ours (our metadata is behind) — UNKNOWN_LEADER_EPOCH.
	ErrUnknownLeaderEpoch = errors.New("partition: unknown leader epoch")
	// ErrInvalidRequiredAcks: acks other than -1, 0, 1 —
	// INVALID_REQUIRED_ACKS.
	ErrInvalidRequiredAcks = errors.New("partition: invalid required acks")
	// ErrNotEnoughReplicas: acks=all while the ISR is smaller than
	// min.insync.replicas; nothing was appended — NOT_ENOUGH_REPLICAS.
	ErrNotEnoughReplicas = errors.New("partition: not enough in-sync replicas")
	// ErrNotEnoughReplicasAfterAppend: acks=all, the batch was appended
	// and reached the high watermark, but the ISR shrank below
	// min.insync.replicas meanwhile — NOT_ENOUGH_REPLICAS_AFTER_APPEND.
	ErrNotEnoughReplicasAfterAppend = errors.New("partition: not enough in-sync replicas after append")
	// ErrTimeout: acks=all did not see the high watermark reach the batch
	// in time — REQUEST_TIMED_OUT.
	ErrTimeout = errors.New("partition: timed out waiting for replication")
	// ErrOutOfOrderSequence: an idempotent producer's batch does not
	// continue its sequence — OUT_OF_ORDER_SEQUENCE_NUMBER.
	ErrOutOfOrderSequence = errors.New("partition: out of order sequence number")
	// ErrInvalidProducerEpoch: an idempotent producer's batch carries an
	// epoch older than the partition has seen for its producer id —
	// INVALID_PRODUCER_EPOCH.
	ErrInvalidProducerEpoch = errors.New("partition: invalid producer epoch")
	// ErrTransactionsUnsupported: a transactional batch; chronik has no
	// transaction coordinator — TRANSACTIONAL_ID_AUTHORIZATION_FAILED, the
	// same non-retriable answer InitProducerId gives a transactional id.
	ErrTransactionsUnsupported = errors.New("partition: transactions are not supported")
	// ErrInvalidConfig: Config.Validate refused the Manager's
	// configuration.
	ErrInvalidConfig = errors.New("partition: invalid config")
	// ErrProducerIDs: no producer id could be allocated (the metadata
	// backend did not answer) — COORDINATOR_LOAD_IN_PROGRESS, retriable,
	// as Kafka answers when its producer id block is not ready.
	ErrProducerIDs = errors.New("partition: producer ids unavailable")
	// ErrClosed: the Manager is closed.
	ErrClosed = errors.New("partition: closed")
)
