package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestConfigValidate(t *testing.T) {
	ok := testConfig(1, "")
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	zero := Config{BrokerID: 0, Listeners: ok.Listeners}
	if err := zero.Validate(); err != nil {
		t.Fatalf("zero durations (defaults) refused: %v", err)
	}
	if d := zero.withDefaults(); d.HeartbeatInterval != metadata.DefaultHeartbeatInterval || d.CallTimeout != DefaultCallTimeout ||
		d.RetryBackoff != DefaultRetryBackoff || d.MaxRetryBackoff != DefaultMaxRetryBackoff ||
		d.ShutdownTimeout != DefaultShutdownTimeout || d.MaxPartitionsPerTopic != DefaultMaxPartitionsPerTopic {
		t.Errorf("defaults not applied: %+v", d)
	}
	listener := func(name, host string, port int32) []metadata.Listener {
		return []metadata.Listener{{Name: name, Host: host, Port: port}}
	}
	for _, c := range []struct {
		name string
		mod  func(*Config)
	}{
		{"negative broker id", func(c *Config) { c.BrokerID = -1 }},
		{"no listener", func(c *Config) { c.Listeners = nil }},
		{"unnamed listener", func(c *Config) { c.Listeners = listener("", "h", 9092) }},
		{"no host", func(c *Config) { c.Listeners = listener("P", "", 9092) }},
		{"port 0", func(c *Config) { c.Listeners = listener("P", "h", 0) }},
		{"port too big", func(c *Config) { c.Listeners = listener("P", "h", 70000) }},
		{"advertised 0.0.0.0", func(c *Config) { c.Listeners = listener("P", "0.0.0.0", 9092) }},
		{"advertised ::", func(c *Config) { c.Listeners = listener("P", "::", 9092) }},
		{"host with port", func(c *Config) { c.Listeners = listener("P", "h:9092", 9092) }},
		{"host with space", func(c *Config) { c.Listeners = listener("P", "my host", 9092) }},
		{"label too long", func(c *Config) { c.Listeners = listener("P", strings.Repeat("a", 64)+".com", 9092) }},
		{"duplicate names", func(c *Config) {
			c.Listeners = append(listener("P", "a", 1), metadata.Listener{Name: "P", Host: "b", Port: 2})
		}},
		{"negative heartbeat", func(c *Config) { c.HeartbeatInterval = -time.Second }},
		{"negative call timeout", func(c *Config) { c.CallTimeout = -1 }},
		{"max backoff below backoff", func(c *Config) { c.RetryBackoff, c.MaxRetryBackoff = time.Second, time.Millisecond }},
		{"negative max partitions", func(c *Config) { c.MaxPartitionsPerTopic = -1 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(1, "")
			c.mod(&cfg)
			mustErr(t, cfg.Validate(), ErrInvalidConfig)
			s := newStore(t, 0)
			if _, err := New(cfg, s, nil); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	for _, host := range []string{"localhost", "broker-1.example.com", "10.1.2.3", "::1", "fe80::1", "kafka_1", "host."} {
		cfg := testConfig(1, "")
		cfg.Listeners = listener("P", host, 9092)
		if err := cfg.Validate(); err != nil {
			t.Errorf("host %q refused: %v", host, err)
		}
	}
	if _, err := New(testConfig(1, ""), nil, nil); err == nil {
		t.Error("New accepted a nil backend")
	}
}

func TestValidateTopicName(t *testing.T) {
	for _, name := range []string{"a", "orders", "Orders.v2_final-1", strings.Repeat("x", 249), "__consumer_offsets", "..."} {
		if err := ValidateTopicName(name); err != nil {
			t.Errorf("%q refused: %v", name, err)
		}
	}
	for _, name := range []string{"", ".", "..", strings.Repeat("x", 250), "a b", "a/b", "ä", "a\x00", "a:b", "a*"} {
		mustErr(t, ValidateTopicName(name), ErrInvalidTopic)
	}
}

func TestNewDoesNotTouchTheBackend(t *testing.T) {
	s := newStore(t, 0)
	f := newFault(t, s)
	c, err := New(testConfig(1, ""), f, nil)
	mustOK(t, err)
	if c.Image() != nil || c.Ready() {
		t.Error("a new Cluster has an image or is ready")
	}
	if _, ok := c.Epoch(); ok {
		t.Error("a new Cluster has an epoch")
	}
	mustOK(t, c.Close())
	mustErr(t, c.Start(), ErrClosed)
	if n := f.snapshots.Load() + f.registers.Load() + f.watches.Load(); n != 0 {
		t.Errorf("%d backend calls without Start", n)
	}
	if got := c.Incarnation(); len(got) != 36 {
		t.Errorf("incarnation %q is not a UUID", got)
	}
	c2, err := New(testConfig(1, ""), f, nil)
	mustOK(t, err)
	if c2.Incarnation() == c.Incarnation() {
		t.Error("two Clusters share an incarnation id")
	}
	mustOK(t, c2.Close())
}
