package metadata

import "errors"

// Sentinel errors. Backends return them (possibly wrapped with %w); callers
// match them with errors.Is. They survive the plugin boundary: the gRPC
// adapters turn each into a status with a reason and back into the same
// sentinel.
var (
	// ErrDuplicateBroker: a registration for a broker id whose session is
	// alive under a different incarnation id.
	ErrDuplicateBroker = errors.New("metadata: broker id is registered by another live incarnation")
	// ErrFenced: the broker's session is gone (timed out, unregistered or
	// never existed); the broker must register again.
	ErrFenced = errors.New("metadata: broker is fenced")
	// ErrStaleEpoch: the caller's epoch (broker epoch, partition epoch) is
	// not the current one, or a compare-and-set's expectation (a topic's
	// partition count for AddPartitions, its configs for SetTopicConfigs)
	// no longer holds.
	ErrStaleEpoch = errors.New("metadata: stale epoch")
	// ErrTopicExists: CreateTopic for a name that exists.
	ErrTopicExists = errors.New("metadata: topic already exists")
	// ErrUnknownTopic: the topic, or the partition of it, does not exist.
	ErrUnknownTopic = errors.New("metadata: unknown topic or partition")
	// ErrCompacted: Watch from a revision whose history is no longer kept.
	// Take a new Snapshot and watch from its revision.
	ErrCompacted = errors.New("metadata: revision compacted")
	// ErrUnavailable: the backend cannot serve the call now (no quorum, no
	// leader, the plugin process is down) and the caller's deadline ran out
	// or the backend knows it cannot succeed. For a write the outcome may be
	// unknown: it may still commit. Writes are safe to retry (registration is
	// idempotent per incarnation, a retried CreateTopic that did commit
	// returns ErrTopicExists with the same topic id, AlterPartition is a CAS).
	ErrUnavailable = errors.New("metadata: backend unavailable")
	// ErrInvalid: the request is malformed (empty names, bad counts,
	// replicas that do not exist in the partition...). Not retriable.
	ErrInvalid = errors.New("metadata: invalid request")
	// ErrNotConfigured: a call reached a plugin before Configure.
	ErrNotConfigured = errors.New("metadata: backend not configured")
	// ErrUnsupported: an optional capability the backend does not have.
	ErrUnsupported = errors.New("metadata: operation not supported by this backend")
)

// Sentinels lists every sentinel error, for adapters that translate them.
var Sentinels = []error{
	ErrDuplicateBroker, ErrFenced, ErrStaleEpoch, ErrTopicExists,
	ErrUnknownTopic, ErrCompacted, ErrUnavailable, ErrInvalid,
	ErrNotConfigured, ErrUnsupported,
}
