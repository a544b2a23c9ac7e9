package protocol

import (
	"context"
	"log/slog"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/core/topicconfig"
	"github.com/chronik-go/chronik/core/wire"
)

// Broker holds what handlers depend on. Handlers take every dependency from
// it (never from package state), so one process can run several brokers and
// tests can build one with only what they need. The server passes the same
// *Broker to every handler; its fields are set before the server starts and
// not changed afterwards, and the values they point to are safe for
// concurrent use.
//
// Fields are added here as the broker grows (the cluster image, partitions,
// groups, configuration). A handler that needs one checks that it is set and
// answers with a Kafka error, not a panic, when a test broker lacks it.
type Broker struct {
	// NodeID is this broker's node id.
	NodeID int32
	// Logger is for handler logs that are not about one connection
	// (Request.Logger is). Never nil once the server runs: New sets a
	// discarding logger if it is.
	Logger *slog.Logger
	// Registry is the set of APIs served. Nil means Default(), the
	// registry the API files of this package register into.
	Registry *Registry
	// Cluster is the broker's watch-fed view of the cluster and the path of
	// every topic admin write (through the metadata backend). Every answer
	// that names brokers, leaders or coordinators reads its Image.
	Cluster *cluster.Cluster
	// Partitions are the partition replicas this broker hosts (the data
	// path: produce, fetch, offsets).
	Partitions *partition.Manager
	// Groups is the group coordinator (consumer groups and committed
	// offsets); nil on brokers built without one, whose group APIs answer
	// COORDINATOR_NOT_AVAILABLE.
	Groups Groups
	// Config holds the broker settings handlers apply.
	Config Config
}

// Config holds the broker settings the API handlers apply.
type Config struct {
	// AutoCreateTopics creates a topic on Metadata/Produce for an unknown
	// name (Kafka's auto.create.topics.enable).
	AutoCreateTopics bool
	// DefaultPartitions and DefaultReplicationFactor are used for
	// auto-created topics and for CreateTopics requests that leave them
	// at -1 (num.partitions, default.replication.factor).
	DefaultPartitions        int32
	DefaultReplicationFactor int16
	// TopicDefaults are the broker-level defaults of topic configs
	// (log.retention.ms, ...), as DescribeConfigs reports them.
	TopicDefaults topicconfig.Values
}

// DefaultConfig is Kafka's defaults: auto-creation on, 1 partition,
// replication factor 1.
func DefaultConfig() Config {
	return Config{AutoCreateTopics: true, DefaultPartitions: 1, DefaultReplicationFactor: 1, TopicDefaults: topicconfig.Defaults()}
}

// APIs returns b.Registry, or Default() when it is nil.
func (b *Broker) APIs() *Registry {
	if b.Registry != nil {
		return b.Registry
	}
	return defaultRegistry
}

// Request is one request as a handler sees it. The server builds it for
// each request; a handler may read it freely and keep references to it and
// to Body (byte fields of Body alias the request frame, which is never
// reused), but must not modify Header.
type Request struct {
	// Header is the request header: key, version, correlation id, client
	// id.
	Header wire.Header
	// Body is the decoded request: a kmsg type at Header.Version (for
	// example *kmsg.ProduceRequest). For an API with
	// AnswersUnsupportedVersions and a version it does not support, Body
	// is an empty request at that version, not decoded.
	Body kmsg.Request
	// RemoteAddr is the client's address.
	RemoteAddr net.Addr
	// Logger carries the connection's attributes (remote address). Per
	// request logs go at debug level.
	Logger *slog.Logger

	deferred WaitFunc
}

// WaitFunc produces a deferred response; see Request.Defer.
type WaitFunc func(ctx context.Context) (kmsg.Response, error)

// Defer is how a handler answers later without holding up its connection:
// the handler does its ordered part (for example appending a Produce
// request's batches), then returns r.Defer(wait). The server runs wait on a
// goroutine it owns and reads the connection's next request meanwhile;
// wait's result is treated like a handler's ((nil, nil) for no response, a
// Go error closes the connection), and responses are still written in
// request order, so a long-polling Fetch or an acks=all Produce delays the
// responses behind it, never reorders them. ctx is cancelled when the
// connection closes or the server shuts down; wait must then return
// promptly. wait may run concurrently with later handlers of the same
// connection. Defer returns (nil, nil) for the handler to return.
func (r *Request) Defer(wait WaitFunc) (kmsg.Response, error) {
	r.deferred = wait
	return nil, nil
}

// Deferred returns the function the handler passed to Defer, or nil. The
// server calls it after the handler returns.
func (r *Request) Deferred() WaitFunc { return r.deferred }
