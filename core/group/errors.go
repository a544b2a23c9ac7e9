package group

import "errors"

// Sentinel errors; every error of this package wraps one of them.
// Kafka-level outcomes of requests are not Go errors: they are error codes
// in the kmsg responses the Coordinator returns.
var (
	// ErrInvalidConfig: Config.Validate refused the configuration.
	ErrInvalidConfig = errors.New("group: invalid config")
	// ErrClosed: the Coordinator is closed.
	ErrClosed = errors.New("group: coordinator closed")
	// ErrCoordinatorNotAvailable: the offsets topic does not exist yet (its
	// creation was started) or the group's partition has no live leader
	// (COORDINATOR_NOT_AVAILABLE).
	ErrCoordinatorNotAvailable = errors.New("group: coordinator not available")
	// ErrCorruptRecord: a record of the offsets topic that does not decode.
	ErrCorruptRecord = errors.New("group: corrupt offsets topic record")
)
