package protocol

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// Translation of domain errors (core/cluster, core/topicconfig, the
// metadata contract, contexts) into Kafka error codes, in one place, and
// the small helpers every topic-admin handler shares.

// kafkaError returns the Kafka error a response carries for err; nil for a
// nil err. Order matters: the first matching sentinel wins.
//
//	cluster.ErrClosed                       BROKER_NOT_AVAILABLE (shutting down)
//	topicconfig.ErrUnknown, ErrInvalid      INVALID_CONFIG
//	cluster.ErrInvalidTopic                 INVALID_TOPIC_EXCEPTION
//	cluster.ErrInvalidPartitions            INVALID_PARTITIONS
//	cluster.ErrInvalidReplicationFactor     INVALID_REPLICATION_FACTOR
//	cluster.ErrInvalidReplicaAssignment     INVALID_REPLICA_ASSIGNMENT
//	cluster.ErrInvalidRequest,
//	metadata.ErrInvalid                     INVALID_REQUEST
//	metadata.ErrTopicExists                 TOPIC_ALREADY_EXISTS
//	metadata.ErrUnknownTopic                UNKNOWN_TOPIC_OR_PARTITION
//	metadata.ErrUnsupported                 UNSUPPORTED_VERSION (the backend lacks the capability)
//	metadata.ErrUnavailable (incl. ErrNoImage),
//	context deadline or cancellation        REQUEST_TIMED_OUT (retriable; a write may still land)
//	anything else                           UNKNOWN_SERVER_ERROR
//
// The cluster package's sentinels wrap the metadata ones (ErrTopicExists,
// ErrUnknownTopic, ErrUnsupported, ErrNoImage), so matching the metadata
// sentinel covers both.
func kafkaError(err error) *kerr.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrClosed):
		return kerr.BrokerNotAvailable
	case errors.Is(err, topicconfig.ErrUnknown), errors.Is(err, topicconfig.ErrInvalid):
		return kerr.InvalidConfig
	case errors.Is(err, cluster.ErrInvalidTopic):
		return kerr.InvalidTopicException
	case errors.Is(err, cluster.ErrInvalidPartitions):
		return kerr.InvalidPartitions
	case errors.Is(err, cluster.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor
	case errors.Is(err, cluster.ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment
	case errors.Is(err, cluster.ErrInvalidRequest), errors.Is(err, metadata.ErrInvalid):
		return kerr.InvalidRequest
	case errors.Is(err, metadata.ErrTopicExists):
		return kerr.TopicAlreadyExists
	case errors.Is(err, metadata.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition
	case errors.Is(err, metadata.ErrUnsupported):
		return kerr.UnsupportedVersion
	case errors.Is(err, metadata.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut
	default:
		return kerr.UnknownServerError
	}
}

// errorCode is kafkaError's code (0 for nil).
func errorCode(err error) int16 {
	if ke := kafkaError(err); ke != nil {
		return ke.Code
	}
	return 0
}

// errorMessage is the message a response's ErrorMessage field carries for
// err: what went wrong, in the words of the layer that refused it. nil for
// a nil err.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// messagef is a formatted ErrorMessage.
func messagef(format string, args ...any) *string {
	s := fmt.Sprintf(format, args...)
	return &s
}

// Waits of requests that carry no timeout of their own.
const (
	// firstImageWait bounds how long a request waits for this broker's
	// first metadata image (right after start, or while the backend is
	// unreachable) before it answers with a retriable error.
	firstImageWait = 2 * time.Second
	// defaultAdminTimeout bounds a topic admin request whose timeout field
	// is absent or not positive (Kafka's default request.timeout.ms).
	defaultAdminTimeout = 30 * time.Second
	// autoCreateWait bounds the auto-creation of topics by one Metadata
	// request, well below the clients' request timeouts (kgo's is 10 s).
	autoCreateWait = 5 * time.Second
)

// adminContext bounds a topic admin request: by its timeout field when
// that is positive (CreateTopics, DeleteTopics, CreatePartitions), else by
// defaultAdminTimeout. The connection's ctx still cancels it.
func adminContext(ctx context.Context, timeoutMillis int32) (context.Context, context.CancelFunc) {
	d := defaultAdminTimeout
	if timeoutMillis > 0 {
		d = time.Duration(timeoutMillis) * time.Millisecond
	}
	return context.WithTimeout(ctx, d)
}

// metadataImage returns this broker's metadata image, waiting up to
// firstImageWait (and at most until ctx ends) for the first one. Without a
// Cluster, or when no image arrives, the error wraps cluster.ErrNoImage
// (REQUEST_TIMED_OUT through kafkaError; Metadata answers its own way).
// Never a partial or self-only view: the caller answers with a retriable
// error instead.
func metadataImage(ctx context.Context, b *Broker) (*cluster.Image, error) {
	if b.Cluster == nil {
		return nil, fmt.Errorf("protocol: broker has no cluster view: %w", cluster.ErrNoImage)
	}
	if img := b.Cluster.Image(); img != nil {
		return img, nil
	}
	wctx, cancel := context.WithTimeout(ctx, firstImageWait)
	defer cancel()
	if err := b.Cluster.WaitRevision(wctx, 0); err != nil {
		return nil, fmt.Errorf("%w: %w", cluster.ErrNoImage, err)
	}
	return b.Cluster.Image(), nil
}

// internalTopics are the topics Kafka marks internal (is_internal in
// Metadata). The broker creates them itself, with their own partition
// counts, so topic auto-creation leaves them alone.
var internalTopics = map[string]bool{
	"__consumer_offsets":  true,
	"__transaction_state": true,
}

// isInternalTopic reports whether name is one of internalTopics.
func isInternalTopic(name string) bool { return internalTopics[name] }

// autoCreateTopic creates topic name with the broker's defaults
// (Config.DefaultPartitions, Config.DefaultReplicationFactor, no topic
// configs) through the backend, for Kafka's auto.create.topics.enable, and
// returns it once this broker's image has it. The caller checks
// Config.AutoCreateTopics and the request's permission first.
//
// Like Kafka, the replication factor is not lowered to the number of live
// brokers: too few brokers fail with cluster.ErrInvalidReplicationFactor
// (INVALID_REPLICATION_FACTOR). Internal topic names are refused with
// metadata.ErrUnknownTopic (their creator is the broker component that
// owns them). A concurrent creation of the same name (here or on another
// broker) is not an error: the existing topic is returned if this broker's
// image has it, else the error wraps metadata.ErrTopicExists. Other errors
// are Cluster.CreateTopic's. Safe for concurrent use.
func autoCreateTopic(ctx context.Context, b *Broker, name string) (metadata.Topic, error) {
	if b.Cluster == nil {
		return metadata.Topic{}, fmt.Errorf("protocol: auto-creating topic %q: %w", name, cluster.ErrNoImage)
	}
	if isInternalTopic(name) {
		return metadata.Topic{}, fmt.Errorf("protocol: internal topic %q is not auto-created: %w", name, metadata.ErrUnknownTopic)
	}
	t, err := b.Cluster.CreateTopic(ctx, name, b.Config.DefaultPartitions, b.Config.DefaultReplicationFactor, nil, nil)
	if errors.Is(err, metadata.ErrTopicExists) {
		if cur, ok := b.Cluster.Image().Topic(name); ok {
			return cur, nil
		}
	}
	if err == nil && b.Logger != nil {
		b.Logger.Debug("topic auto-created", "topic", name, "partitions", len(t.Partitions))
	}
	return t, err
}
