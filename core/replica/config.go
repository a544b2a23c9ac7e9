package replica

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of Config, Kafka's where Kafka has one.
const (
	// DefaultMaxWait is replica.fetch.wait.max.ms.
	DefaultMaxWait = 500 * time.Millisecond
	// DefaultMaxBytes is replica.fetch.response.max.bytes.
	DefaultMaxBytes = 10 << 20
	// DefaultPartitionMaxBytes is replica.fetch.max.bytes.
	DefaultPartitionMaxBytes = 1 << 20
	// DefaultLagTimeMax is replica.lag.time.max.ms.
	DefaultLagTimeMax = 30 * time.Second
	// DefaultRetryBackoff is replica.fetch.backoff.ms; shorter than
	// Kafka's 1 s, so that a follower whose leader has not opened a new
	// partition yet, or has not seen a new leader epoch, retries quickly
	// (acks=all and failover wait for it).
	DefaultRetryBackoff = 250 * time.Millisecond
	// DefaultRequestTimeout is replica.socket.timeout.ms, added to the
	// fetch's max wait.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultCallTimeout bounds one AlterPartition (ISR change or leader
	// election) through the metadata backend.
	DefaultCallTimeout = 10 * time.Second
	// DefaultLeaderImbalanceCheckInterval is
	// leader.imbalance.check.interval.seconds.
	DefaultLeaderImbalanceCheckInterval = 300 * time.Second
	// DefaultLeaderImbalancePerBrokerPercentage is
	// leader.imbalance.per.broker.percentage.
	DefaultLeaderImbalancePerBrokerPercentage = 10
	// DefaultControlledShutdownTimeout bounds a controlled shutdown
	// (Manager.ControlledShutdown).
	DefaultControlledShutdownTimeout = 5 * time.Second
)

// ErrInvalidConfig: Config.Validate refused the configuration.
var ErrInvalidConfig = errors.New("replica: invalid config")

// Config configures a Manager.
type Config struct {
	// MaxWait is how long the leader may hold a follower's Fetch waiting
	// for data (max_wait_ms).
	MaxWait time.Duration
	// MaxBytes and PartitionMaxBytes bound a follower Fetch response and
	// each partition's share (the first batch is returned whole anyway).
	MaxBytes, PartitionMaxBytes int32
	// LagTimeMax is replica.lag.time.max.ms: the leader removes a follower
	// from the ISR when it has not caught up with the leader's log end
	// offset for this long.
	LagTimeMax time.Duration
	// ISRCheckInterval is how often a leader checks its followers for ISR
	// changes and a broker looks for partitions to take over; zero means
	// LagTimeMax/4, between 50 ms and 1 s.
	ISRCheckInterval time.Duration
	// RetryBackoff is the pause after a failed fetch or connection, and
	// before fetching a partition again after a retriable error.
	RetryBackoff time.Duration
	// RequestTimeout bounds a request to a leader, beyond MaxWait.
	RequestTimeout time.Duration
	// CallTimeout bounds one AlterPartition through the metadata backend.
	CallTimeout time.Duration
	// TruncateOnFetchOnly skips the OffsetForLeaderEpoch request before
	// fetching after a leader change: the follower sends its last fetched
	// epoch and truncates when the Fetch answer reports a DivergingEpoch
	// (what Kafka 2.7+ does with leaders that support Fetch v12). Off,
	// the follower first asks OffsetForLeaderEpoch where its last epoch
	// ends and truncates there (KIP-101/279), and still handles
	// DivergingEpoch.
	TruncateOnFetchOnly bool
	// ClientID is the client id of the requests to leaders.
	ClientID string
	// AutoLeaderRebalanceEnable is auto.leader.rebalance.enable: every
	// LeaderImbalanceCheckInterval, a broker that is the preferred
	// replica (first in the assignment) of partitions it does not lead,
	// while live and in their ISR, takes their leadership back when more
	// than LeaderImbalancePerBrokerPercentage percent of the partitions it
	// is preferred for are led by others.
	AutoLeaderRebalanceEnable bool
	// LeaderImbalanceCheckInterval is
	// leader.imbalance.check.interval.seconds (must be positive when
	// AutoLeaderRebalanceEnable is set).
	LeaderImbalanceCheckInterval time.Duration
	// LeaderImbalancePerBrokerPercentage is
	// leader.imbalance.per.broker.percentage, 0 to 100: the share of a
	// broker's preferred partitions that may be led by others before it
	// takes them back (0: any).
	LeaderImbalancePerBrokerPercentage int
	// ControlledShutdownTimeout bounds Manager.ControlledShutdown: the
	// time a closing broker spends moving the leadership of the
	// partitions it leads to other in-sync replicas before it goes away
	// (Kafka's controlled shutdown). Zero disables it: the broker just
	// unregisters and the others elect new leaders.
	ControlledShutdownTimeout time.Duration
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		MaxWait:           DefaultMaxWait,
		MaxBytes:          DefaultMaxBytes,
		PartitionMaxBytes: DefaultPartitionMaxBytes,
		LagTimeMax:        DefaultLagTimeMax,
		RetryBackoff:      DefaultRetryBackoff,
		RequestTimeout:    DefaultRequestTimeout,
		CallTimeout:       DefaultCallTimeout,
		ClientID:          "chronik-replica-fetcher",

		AutoLeaderRebalanceEnable:          true,
		LeaderImbalanceCheckInterval:       DefaultLeaderImbalanceCheckInterval,
		LeaderImbalancePerBrokerPercentage: DefaultLeaderImbalancePerBrokerPercentage,

		ControlledShutdownTimeout: DefaultControlledShutdownTimeout,
	}
}

// Validate reports the first invalid field as an ErrInvalidConfig error.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.MaxWait < 0:
		return bad("max wait %v is negative", c.MaxWait)
	case c.MaxBytes <= 0 || c.PartitionMaxBytes <= 0:
		return bad("max bytes %d and partition max bytes %d must be positive", c.MaxBytes, c.PartitionMaxBytes)
	case c.LagTimeMax <= 0:
		return bad("replica lag time max %v must be positive", c.LagTimeMax)
	case c.ISRCheckInterval < 0:
		return bad("ISR check interval %v is negative", c.ISRCheckInterval)
	case c.RetryBackoff <= 0:
		return bad("retry backoff %v must be positive", c.RetryBackoff)
	case c.RequestTimeout <= 0 || c.CallTimeout <= 0:
		return bad("request timeout %v and call timeout %v must be positive", c.RequestTimeout, c.CallTimeout)
	case c.AutoLeaderRebalanceEnable && c.LeaderImbalanceCheckInterval <= 0:
		return bad("leader imbalance check interval %v must be positive with automatic leader rebalancing", c.LeaderImbalanceCheckInterval)
	case c.LeaderImbalancePerBrokerPercentage < 0 || c.LeaderImbalancePerBrokerPercentage > 100:
		return bad("leader imbalance per broker percentage %d is not between 0 and 100", c.LeaderImbalancePerBrokerPercentage)
	case c.ControlledShutdownTimeout < 0:
		return bad("controlled shutdown timeout %v is negative", c.ControlledShutdownTimeout)
	}
	return nil
}

// checkInterval is the effective ISRCheckInterval.
func (c *Config) checkInterval() time.Duration {
	if c.ISRCheckInterval > 0 {
		return c.ISRCheckInterval
	}
	return min(max(c.LagTimeMax/4, 50*time.Millisecond), time.Second)
}
