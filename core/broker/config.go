package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/chronik-go/chronik/core/cluster"
	"github.com/chronik-go/chronik/core/group"
	"github.com/chronik-go/chronik/core/partition"
	"github.com/chronik-go/chronik/core/protocol"
	"github.com/chronik-go/chronik/core/replica"
	"github.com/chronik-go/chronik/core/server"
)

// Config configures a Broker.
type Config struct {
	// BrokerID is this broker's id, unique in the cluster.
	BrokerID int32
	// Rack is this broker's rack ("" for none).
	Rack string
	// DataDir holds the partition logs.
	DataDir string
	// Server configures the Kafka listener (listen and advertised
	// addresses, request limits, idle reaping). Its AdvertisedAddr is the
	// endpoint registered for clients; see Validate.
	Server server.Config
	// Partition tunes the partition replicas (log flush policy, retention
	// checks, fetch limits). Its DataDir is DataDir and its TopicDefaults
	// are Protocol.TopicDefaults.
	Partition partition.Config
	// Cluster tunes the registration and image loops. BrokerID, Rack and
	// Listeners are filled from this Config.
	Cluster cluster.Config
	// HTTPAddr is where /metrics, /healthz and /readyz are served; empty
	// disables the HTTP port. Default 127.0.0.1:9644.
	HTTPAddr string
	// HTTPPprof serves net/http/pprof under /debug/pprof/ on the HTTP
	// port (for profiling; off by default).
	HTTPPprof bool
	// ListenerName is the name of the Kafka listener registered in the
	// backend. Default "PLAINTEXT".
	ListenerName string
	// Protocol holds the settings the API handlers apply (topic
	// auto-creation, default partitions and replication factor, topic
	// config defaults).
	Protocol protocol.Config
	// Group configures the group coordinator (offsets topic, rebalance
	// delay, session bounds, offset retention).
	Group group.Config
	// Replica configures follower fetching, ISR management and leader
	// failover (replica.lag.time.max.ms and the fetch limits).
	Replica replica.Config
}

// DefaultConfig is a single broker on 127.0.0.1:9092 with data in ./data.
func DefaultConfig() Config {
	return Config{
		BrokerID:     1,
		DataDir:      "./data",
		Server:       server.DefaultConfig(),
		Cluster:      cluster.DefaultConfig(),
		Partition:    partition.DefaultConfig(),
		HTTPAddr:     "127.0.0.1:9644",
		ListenerName: "PLAINTEXT",
		Protocol:     protocol.DefaultConfig(),
		Group:        group.DefaultConfig(),
		Replica:      replica.DefaultConfig(),
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.BrokerID < 0 {
		errs = append(errs, fmt.Errorf("broker id %d: must be >= 0", c.BrokerID))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir: must not be empty"))
	}
	if c.ListenerName == "" {
		errs = append(errs, errors.New("listener name: must not be empty"))
	}
	if err := c.Server.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Group.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Replica.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.HTTPAddr != "" {
		if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("http address %q: %w", c.HTTPAddr, err))
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, fmt.Errorf("http address %q: bad port", c.HTTPAddr))
		}
	}
	return errors.Join(errs...)
}
