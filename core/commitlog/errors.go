package commitlog

import (
	"errors"
	"fmt"
)

// Sentinel errors. Functions return them wrapped with %w and a description
// of what failed; match them with errors.Is. The protocol layer maps them to
// Kafka error codes in one place:
//
//	ErrCorruptBatch      CORRUPT_MESSAGE
//	ErrInvalidRecord     INVALID_RECORD (ErrNullKey wraps it)
//	ErrBatchTooLarge     MESSAGE_TOO_LARGE
//	ErrOffsetOutOfRange  OFFSET_OUT_OF_RANGE
//	ErrLogFailed         KAFKA_STORAGE_ERROR
var (
	// ErrCorruptBatch: the bytes are not a well-formed record batch: too
	// short, a batch length that does not fit, a CRC-32C mismatch, or a
	// compressed payload that does not decompress.
	ErrCorruptBatch = errors.New("commitlog: corrupt record batch")
	// ErrInvalidRecord: the batch is well formed and its CRC matches but
	// its content breaks the format: magic other than 2, an unknown
	// compression codec, a record count that disagrees with the last
	// offset delta or with the records actually present, malformed record
	// varints, trailing bytes, non-sequential offset deltas in a
	// compressed batch.
	ErrInvalidRecord = errors.New("commitlog: invalid record")
	// ErrBatchTooLarge: a batch is larger than the configured maximum
	// (max.message.bytes), or decompresses to more than the decompression
	// bound.
	ErrBatchTooLarge = errors.New("commitlog: record batch too large")
	// ErrOffsetOutOfRange: an offset below the log start offset or above
	// the log end offset.
	ErrOffsetOutOfRange = errors.New("commitlog: offset out of range")
	// ErrClosed: the log has been closed.
	ErrClosed = errors.New("commitlog: log closed")
	// ErrLogFailed: an earlier I/O error left the log in a state it could
	// not repair in place (for example a failed write that could not be
	// rolled back). Every later write fails with it; reopen the log to
	// recover.
	ErrLogFailed = errors.New("commitlog: log failed after an I/O error")
	// ErrCorruptLog: Open found damage it refuses to repair because
	// repairing would drop valid data: a corrupt batch followed by valid
	// batches, or a segment whose tail is damaged while later segments hold
	// data. Nothing on disk is modified when Open returns it.
	ErrCorruptLog = errors.New("commitlog: corrupt log")
	// ErrInvalidConfig: Config.Validate rejected a configuration.
	ErrInvalidConfig = errors.New("commitlog: invalid config")
	// ErrInvalidEpoch: an append with a leader epoch that is negative or
	// lower than the latest epoch already in the log.
	ErrInvalidEpoch = errors.New("commitlog: invalid leader epoch")
	// ErrOffsetMismatch: AppendReplicated got a batch whose base offset is
	// below the log end offset (or the end of the batch before it).
	ErrOffsetMismatch = errors.New("commitlog: batch offsets do not continue the log")
)

// ErrNullKey is returned (wrapped) by RequireRecordKeys for a record without
// a key. It wraps ErrInvalidRecord, so the protocol layer answers it with
// INVALID_RECORD like Kafka ("Compacted topic cannot accept message without
// key").
var ErrNullKey = fmt.Errorf("%w: compacted topic cannot accept a record without a key", ErrInvalidRecord)
