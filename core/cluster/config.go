package cluster

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Defaults of Config, used by DefaultConfig and for zero fields.
const (
	DefaultRetryBackoff          = 100 * time.Millisecond
	DefaultMaxRetryBackoff       = 2 * time.Second
	DefaultCallTimeout           = 5 * time.Second
	DefaultShutdownTimeout       = 2 * time.Second
	DefaultMaxPartitionsPerTopic = 10000
)

// Config configures a Cluster.
type Config struct {
	// BrokerID is this broker's id (>= 0), unique in the cluster.
	BrokerID int32
	// Listeners are the advertised endpoints registered in the backend and
	// answered in Metadata. At least one; names distinct; hosts must be
	// addresses clients can reach (never 0.0.0.0 or ::).
	Listeners []metadata.Listener
	// Rack is this broker's rack ("" for none); replicas of a partition are
	// spread over racks when brokers have them.
	Rack string
	// HeartbeatInterval is the period of session heartbeats; zero means
	// metadata.DefaultHeartbeatInterval. It must be well below the
	// backend's session timeout (a third or less).
	HeartbeatInterval time.Duration
	// RetryBackoff is the first delay before retrying a failed backend call
	// (it doubles per failure, with jitter, up to MaxRetryBackoff); zero
	// means DefaultRetryBackoff.
	RetryBackoff time.Duration
	// MaxRetryBackoff caps RetryBackoff's growth; zero means
	// DefaultMaxRetryBackoff.
	MaxRetryBackoff time.Duration
	// CallTimeout bounds every single backend call the Cluster makes (a
	// registration, a heartbeat, a snapshot, one attempt of an admin
	// write); zero means DefaultCallTimeout.
	CallTimeout time.Duration
	// ShutdownTimeout bounds the UnregisterBroker call made by Close; zero
	// means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// MaxPartitionsPerTopic caps the partition count of CreateTopic and
	// CreatePartitions (a hostile request cannot make the broker build
	// millions of partitions); zero means DefaultMaxPartitionsPerTopic.
	MaxPartitionsPerTopic int32
}

// DefaultConfig returns a Config with every default spelled out; BrokerID,
// Listeners and Rack are left for the caller.
func DefaultConfig() Config {
	return Config{
		HeartbeatInterval:     metadata.DefaultHeartbeatInterval,
		RetryBackoff:          DefaultRetryBackoff,
		MaxRetryBackoff:       DefaultMaxRetryBackoff,
		CallTimeout:           DefaultCallTimeout,
		ShutdownTimeout:       DefaultShutdownTimeout,
		MaxPartitionsPerTopic: DefaultMaxPartitionsPerTopic,
	}
}

// Validate reports a Config that New would refuse; the error wraps
// ErrInvalidConfig and says which field is wrong.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("cluster: %s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	if c.BrokerID < 0 {
		return bad("negative broker id %d", c.BrokerID)
	}
	if len(c.Listeners) == 0 {
		return bad("broker %d has no advertised listener", c.BrokerID)
	}
	names := make(map[string]bool, len(c.Listeners))
	for _, l := range c.Listeners {
		switch {
		case l.Name == "":
			return bad("advertised listener %s:%d has no name", l.Host, l.Port)
		case names[l.Name]:
			return bad("advertised listener name %q appears twice", l.Name)
		case l.Host == "":
			return bad("advertised listener %q has no host", l.Name)
		case l.Port <= 0 || l.Port > 65535:
			return bad("advertised listener %q has port %d, want 1-65535", l.Name, l.Port)
		}
		if ip, err := netip.ParseAddr(l.Host); err == nil {
			if ip.IsUnspecified() {
				return bad("advertised listener %q has host %s, which clients cannot connect to; advertise a reachable address", l.Name, l.Host)
			}
		} else if !validHostname(l.Host) {
			return bad("advertised listener %q has host %q, which is neither an IP address nor a host name", l.Name, l.Host)
		}
		names[l.Name] = true
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"heartbeat interval", c.HeartbeatInterval},
		{"retry backoff", c.RetryBackoff},
		{"max retry backoff", c.MaxRetryBackoff},
		{"call timeout", c.CallTimeout},
		{"shutdown timeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			return bad("negative %s %v", d.name, d.v)
		}
	}
	if c.MaxPartitionsPerTopic < 0 {
		return bad("negative max partitions per topic %d", c.MaxPartitionsPerTopic)
	}
	w := c.withDefaults()
	if w.MaxRetryBackoff < w.RetryBackoff {
		return bad("max retry backoff %v below retry backoff %v", w.MaxRetryBackoff, w.RetryBackoff)
	}
	return nil
}

// withDefaults fills zero fields with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = d.HeartbeatInterval
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = d.RetryBackoff
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = max(d.MaxRetryBackoff, c.RetryBackoff)
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.MaxPartitionsPerTopic == 0 {
		c.MaxPartitionsPerTopic = d.MaxPartitionsPerTopic
	}
	return c
}

// validHostname reports whether h is a syntactically valid DNS name: dot
// separated labels of 1-63 letters, digits, '-' or '_' (not starting or
// ending with '-'), at most 253 characters, an optional final dot.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
