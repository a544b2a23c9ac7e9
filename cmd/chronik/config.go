package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/core/group"
	"github.com/chronik-go/chronik/core/replica"
)

// Config is the whole configuration of the chronik binary. It is filled, in
// rising precedence, from defaults, a config file (YAML or TOML, --config),
// CHRONIK_* environment variables and command-line flags. Keys are flat:
// "metadata.peers" in a file, --metadata.peers as a flag,
// CHRONIK_METADATA_PEERS in the environment.
type Config struct {
	// ConfigFile is the config file that was read, if any.
	ConfigFile string `mapstructure:"config"`
	// Metadata names the metadata backend: a built-in ("raft", "etcd"), a
	// plugin name NAME (found as chronik-metadata-NAME) or a path.
	Metadata string `mapstructure:"metadata"`
	// PluginDir is searched first for chronik-metadata-NAME plugins.
	PluginDir string `mapstructure:"plugin-dir"`
	// DataDir holds everything the broker and its backend keep on disk.
	DataDir string `mapstructure:"data-dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `mapstructure:"log-level"`
	// LogFormat is text or json.
	LogFormat string `mapstructure:"log-format"`

	// BrokerID is this broker's id; it is also its metadata node id.
	BrokerID int32 `mapstructure:"broker-id"`
	// Listen is the Kafka listen address (host:port).
	Listen string `mapstructure:"listen"`
	// Advertised is the address clients are told (default: Listen).
	Advertised string `mapstructure:"advertised"`
	// HTTP is the /metrics, /healthz, /readyz address ("" disables it).
	HTTP string `mapstructure:"http"`
	// HTTPPprof serves /debug/pprof/ on the HTTP address.
	HTTPPprof bool `mapstructure:"http.pprof"`
	// Rack is this broker's rack.
	Rack string `mapstructure:"rack"`
	// Flush is the log flush policy: none (rely on the OS and, later,
	// replication, like Kafka), always (fsync before acknowledging) or
	// interval (fsync every FlushInterval).
	Flush         string        `mapstructure:"log.flush"`
	FlushInterval time.Duration `mapstructure:"log.flush-interval"`
	// AutoCreateTopics, DefaultPartitions and DefaultReplicationFactor are
	// Kafka's auto.create.topics.enable, num.partitions and
	// default.replication.factor.
	AutoCreateTopics         bool  `mapstructure:"auto-create-topics"`
	DefaultPartitions        int32 `mapstructure:"default-partitions"`
	DefaultReplicationFactor int16 `mapstructure:"default-replication-factor"`

	// OffsetsTopicPartitions and OffsetsTopicReplicationFactor shape the
	// __consumer_offsets topic when it is first created
	// (offsets.topic.num.partitions, offsets.topic.replication.factor).
	OffsetsTopicPartitions        int32 `mapstructure:"offsets.topic.partitions"`
	OffsetsTopicReplicationFactor int16 `mapstructure:"offsets.topic.replication-factor"`
	// OffsetsRetention is how long the offsets of a group without
	// members are kept (offsets.retention.minutes).
	OffsetsRetention time.Duration `mapstructure:"offsets.retention"`
	// GroupInitialRebalanceDelay, GroupMinSessionTimeout and
	// GroupMaxSessionTimeout are group.initial.rebalance.delay.ms,
	// group.min.session.timeout.ms and group.max.session.timeout.ms.
	GroupInitialRebalanceDelay time.Duration `mapstructure:"group.initial-rebalance-delay"`
	GroupMinSessionTimeout     time.Duration `mapstructure:"group.min-session-timeout"`
	GroupMaxSessionTimeout     time.Duration `mapstructure:"group.max-session-timeout"`
	// ReplicaLagTimeMax is replica.lag.time.max.ms: how long a follower
	// may stay behind the leader's log end before it leaves the ISR.
	ReplicaLagTimeMax time.Duration `mapstructure:"replica.lag-time-max"`
	// AutoLeaderRebalance, LeaderImbalanceCheckInterval and
	// LeaderImbalancePercentage are auto.leader.rebalance.enable,
	// leader.imbalance.check.interval.seconds and
	// leader.imbalance.per.broker.percentage.
	AutoLeaderRebalance          bool          `mapstructure:"auto-leader-rebalance"`
	LeaderImbalanceCheckInterval time.Duration `mapstructure:"leader-imbalance.check-interval"`
	LeaderImbalancePercentage    int           `mapstructure:"leader-imbalance.per-broker-percentage"`
	// ControlledShutdownTimeout bounds the controlled shutdown on SIGTERM
	// or SIGINT: moving the leadership of the partitions this broker
	// leads to other in-sync replicas before it goes away (0: off).
	ControlledShutdownTimeout time.Duration `mapstructure:"controlled-shutdown.timeout"`

	// SessionTimeout is the broker session timeout of the backend.
	SessionTimeout time.Duration `mapstructure:"metadata.session-timeout"`
	// MetadataAddress is this node's advertised address for the backend's
	// own cluster traffic (Raft).
	MetadataAddress string `mapstructure:"metadata.address"`
	// MetadataPeers lists the backend's cluster members,
	// "1@host:port,2@host:port,..." (node id = broker id); default: this
	// node alone at MetadataAddress.
	MetadataPeers string `mapstructure:"metadata.peers"`
	// RaftBind is the Raft listen address if not MetadataAddress.
	RaftBind string `mapstructure:"metadata.raft.bind"`
	// EtcdEndpoints is "host:port,host:port" of an etcd cluster.
	EtcdEndpoints string `mapstructure:"metadata.etcd.endpoints"`
	// EtcdPrefix is the key prefix of this chronik cluster in etcd.
	EtcdPrefix string `mapstructure:"metadata.etcd.prefix"`
	// Settings are extra backend settings, "key=value" each.
	Settings []string `mapstructure:"metadata.set"`
}

// DefaultConfig is what chronik runs with when nothing is set: one broker
// on 127.0.0.1:9092 with the embedded Raft backend as a one-node cluster.
func DefaultConfig() Config {
	gd, rd := group.DefaultConfig(), replica.DefaultConfig()
	return Config{
		Metadata:                 "raft",
		DataDir:                  "./data",
		LogLevel:                 "info",
		LogFormat:                "text",
		BrokerID:                 1,
		Listen:                   "127.0.0.1:9092",
		HTTP:                     "127.0.0.1:9644",
		MetadataAddress:          "127.0.0.1:9093",
		Flush:                    "none",
		FlushInterval:            time.Second,
		AutoCreateTopics:         true,
		DefaultPartitions:        1,
		DefaultReplicationFactor: 1,

		OffsetsTopicPartitions:        gd.OffsetsTopicPartitions,
		OffsetsTopicReplicationFactor: gd.OffsetsTopicReplicationFactor,
		OffsetsRetention:              gd.OffsetsRetention,
		GroupInitialRebalanceDelay:    gd.InitialRebalanceDelay,
		GroupMinSessionTimeout:        gd.MinSessionTimeout,
		GroupMaxSessionTimeout:        gd.MaxSessionTimeout,
		ReplicaLagTimeMax:             rd.LagTimeMax,
		AutoLeaderRebalance:           rd.AutoLeaderRebalanceEnable,
		LeaderImbalanceCheckInterval:  rd.LeaderImbalanceCheckInterval,
		LeaderImbalancePercentage:     rd.LeaderImbalancePerBrokerPercentage,
		ControlledShutdownTimeout:     rd.ControlledShutdownTimeout,
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Metadata) == "" {
		errs = append(errs, errors.New("metadata: must name a backend (raft, etcd, a plugin name or a path)"))
	}
	if strings.TrimSpace(c.DataDir) == "" {
		errs = append(errs, errors.New("data-dir: must not be empty"))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if !slices.Contains([]string{"text", "json"}, c.LogFormat) {
		errs = append(errs, fmt.Errorf("log-format: %q is not text or json", c.LogFormat))
	}
	if c.PluginDir != "" {
		if st, err := os.Stat(c.PluginDir); err != nil {
			errs = append(errs, fmt.Errorf("plugin-dir: %w", err))
		} else if !st.IsDir() {
			errs = append(errs, fmt.Errorf("plugin-dir: %s is not a directory", c.PluginDir))
		}
	}
	if c.BrokerID < 0 {
		errs = append(errs, fmt.Errorf("broker-id: %d is negative", c.BrokerID))
	}
	if _, err := commitlog.ParseFlushPolicy(c.Flush); err != nil {
		errs = append(errs, fmt.Errorf("log.flush: %q is not none, always or interval", c.Flush))
	}
	if c.Flush == "interval" && c.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("log.flush-interval: must be positive with log.flush=interval"))
	}
	if c.DefaultPartitions < 1 {
		errs = append(errs, fmt.Errorf("default-partitions: %d must be at least 1", c.DefaultPartitions))
	}
	if c.DefaultReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("default-replication-factor: %d must be at least 1", c.DefaultReplicationFactor))
	}
	if c.SessionTimeout < 0 {
		errs = append(errs, fmt.Errorf("metadata.session-timeout: %v is negative", c.SessionTimeout))
	}
	if err := c.groupConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	rc := c.replicaConfig()
	if err := rc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("replication settings: %w", err))
	}
	for _, kv := range c.Settings {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			errs = append(errs, fmt.Errorf("metadata.set: %q is not key=value", kv))
		}
	}
	return errors.Join(errs...)
}

// groupConfig is the group coordinator's configuration: its defaults with
// the settings c has.
func (c Config) groupConfig() group.Config {
	g := group.DefaultConfig()
	g.OffsetsTopicPartitions = c.OffsetsTopicPartitions
	g.OffsetsTopicReplicationFactor = c.OffsetsTopicReplicationFactor
	g.OffsetsRetention = c.OffsetsRetention
	g.InitialRebalanceDelay = c.GroupInitialRebalanceDelay
	g.MinSessionTimeout = c.GroupMinSessionTimeout
	g.MaxSessionTimeout = c.GroupMaxSessionTimeout
	return g
}

// replicaConfig is the replica manager's configuration: its defaults with
// the settings c has.
func (c Config) replicaConfig() replica.Config {
	r := replica.DefaultConfig()
	r.LagTimeMax = c.ReplicaLagTimeMax
	r.AutoLeaderRebalanceEnable = c.AutoLeaderRebalance
	r.LeaderImbalanceCheckInterval = c.LeaderImbalanceCheckInterval
	r.LeaderImbalancePerBrokerPercentage = c.LeaderImbalancePercentage
	r.ControlledShutdownTimeout = c.ControlledShutdownTimeout
	return r
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log-level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

// addConfigFlags declares the flags every command shares.
func addConfigFlags(fs *pflag.FlagSet) {
	d := DefaultConfig()
	fs.String("config", "", "config file (YAML or TOML, by extension)")
	fs.String("metadata", d.Metadata, "metadata backend: raft, etcd, a plugin name NAME (chronik-metadata-NAME) or a path")
	fs.String("plugin-dir", d.PluginDir, "directory searched first for chronik-metadata-* plugins")
	fs.String("data-dir", d.DataDir, "data directory")
	fs.String("log-level", d.LogLevel, "log level: debug, info, warn, error")
	fs.String("log-format", d.LogFormat, "log format: text or json")
	fs.Int32("broker-id", d.BrokerID, "this broker's id (also its metadata node id)")
	fs.String("listen", d.Listen, "Kafka listen address host:port")
	fs.String("advertised", d.Advertised, "Kafka address advertised to clients (default: --listen; never 0.0.0.0)")
	fs.String("http", d.HTTP, "address of /metrics, /healthz and /readyz (empty: off)")
	fs.Bool("http.pprof", false, "also serve Go's /debug/pprof/ on the --http address (profiling)")
	fs.String("rack", d.Rack, "this broker's rack")
	fs.String("log.flush", d.Flush, "log flush policy: none (page cache, like Kafka), always (fsync before ack) or interval")
	fs.Duration("log.flush-interval", d.FlushInterval, "fsync period with --log.flush=interval")
	fs.Bool("auto-create-topics", d.AutoCreateTopics, "create unknown topics on Metadata requests (auto.create.topics.enable)")
	fs.Int32("default-partitions", d.DefaultPartitions, "partitions of auto-created topics and CreateTopics with -1 (num.partitions)")
	fs.Int16("default-replication-factor", d.DefaultReplicationFactor, "replication factor of auto-created topics and CreateTopics with -1")
	fs.Int32("offsets.topic.partitions", d.OffsetsTopicPartitions, "partitions of __consumer_offsets when it is first created; fixed afterwards (offsets.topic.num.partitions)")
	fs.Int16("offsets.topic.replication-factor", d.OffsetsTopicReplicationFactor, "replication factor of __consumer_offsets when it is first created (0: min(3, live brokers))")
	fs.Duration("offsets.retention", d.OffsetsRetention, "how long committed offsets of a group without members are kept (offsets.retention.minutes)")
	fs.Duration("group.initial-rebalance-delay", d.GroupInitialRebalanceDelay, "wait for more members before the first rebalance of an empty group (group.initial.rebalance.delay.ms)")
	fs.Duration("group.min-session-timeout", d.GroupMinSessionTimeout, "smallest session timeout a group member may ask for")
	fs.Duration("group.max-session-timeout", d.GroupMaxSessionTimeout, "largest session timeout a group member may ask for")
	fs.Duration("replica.lag-time-max", d.ReplicaLagTimeMax, "how long a follower may lag behind the leader before it leaves the ISR (replica.lag.time.max.ms)")
	fs.Bool("auto-leader-rebalance", d.AutoLeaderRebalance, "move leadership back to preferred replicas when brokers are imbalanced (auto.leader.rebalance.enable)")
	fs.Duration("leader-imbalance.check-interval", d.LeaderImbalanceCheckInterval, "how often leadership imbalance is checked")
	fs.Int("leader-imbalance.per-broker-percentage", d.LeaderImbalancePercentage, "imbalance (share of a broker's preferred partitions led elsewhere) that triggers a rebalance")
	fs.Duration("controlled-shutdown.timeout", d.ControlledShutdownTimeout, "on shutdown, how long to spend moving the leadership of this broker's partitions to other in-sync replicas first (0: off)")
	fs.Duration("metadata.session-timeout", d.SessionTimeout, "broker session timeout (default 6s)")
	fs.String("metadata.address", d.MetadataAddress, "this node's advertised address for metadata cluster traffic (Raft)")
	fs.String("metadata.peers", d.MetadataPeers, "metadata cluster members id@host:port,... (default: this node alone)")
	fs.String("metadata.raft.bind", d.RaftBind, "Raft listen address, if not --metadata.address")
	fs.String("metadata.etcd.endpoints", d.EtcdEndpoints, "etcd endpoints host:port,host:port")
	fs.String("metadata.etcd.prefix", d.EtcdPrefix, "key prefix of this chronik cluster in etcd")
	fs.StringArray("metadata.set", nil, "extra backend setting key=value (repeatable)")
}

// configKeys are the keys of Config (its mapstructure tags).
var configKeys = []string{"config", "metadata", "plugin-dir", "data-dir", "log-level", "log-format",
	"broker-id", "listen", "advertised", "http", "http.pprof", "rack", "log.flush", "log.flush-interval",
	"auto-create-topics", "default-partitions", "default-replication-factor",
	"offsets.topic.partitions", "offsets.topic.replication-factor", "offsets.retention",
	"group.initial-rebalance-delay", "group.min-session-timeout", "group.max-session-timeout", "replica.lag-time-max",
	"auto-leader-rebalance", "leader-imbalance.check-interval", "leader-imbalance.per-broker-percentage",
	"controlled-shutdown.timeout",
	"metadata.session-timeout",
	"metadata.address", "metadata.peers", "metadata.raft.bind",
	"metadata.etcd.endpoints", "metadata.etcd.prefix", "metadata.set"}

// String prints every key of c, one "key: value" line each in the order
// of configKeys; the values of backend settings whose name says they are
// secret (password, secret, token) are masked.
func (c Config) String() string {
	vals := map[string]string{}
	rv := reflect.ValueOf(c)
	for i := range rv.NumField() {
		key := rv.Type().Field(i).Tag.Get("mapstructure")
		switch v := rv.Field(i).Interface().(type) {
		case []string:
			masked := make([]string, len(v))
			for j, kv := range v {
				masked[j] = maskSecret(kv)
			}
			vals[key] = strings.Join(masked, ",")
		default:
			vals[key] = fmt.Sprint(v)
		}
	}
	var b strings.Builder
	for _, k := range configKeys {
		fmt.Fprintf(&b, "%s: %s\n", k, vals[k])
	}
	return b.String()
}

// maskSecret hides the value of a key=value backend setting whose key
// names a secret.
func maskSecret(kv string) string {
	k, _, ok := strings.Cut(kv, "=")
	lk := strings.ToLower(k)
	if ok && (strings.Contains(lk, "password") || strings.Contains(lk, "secret") || strings.Contains(lk, "token")) {
		return k + "=***"
	}
	return kv
}

// loadConfig builds the Config from, in rising precedence: defaults, the
// config file named by --config (or CHRONIK_CONFIG), CHRONIK_* environment
// variables (CHRONIK_DATA_DIR sets data-dir, CHRONIK_METADATA_PEERS sets
// metadata.peers) and flags set on the command line.
func loadConfig(fs *pflag.FlagSet) (Config, error) {
	// Keys contain dots ("metadata.peers") but are flat: "metadata" is
	// itself a key, so dots must not nest.
	v := viper.NewWithOptions(viper.KeyDelimiter("::"))
	v.SetEnvPrefix("CHRONIK")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	for _, k := range configKeys {
		if err := v.BindEnv(k); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
	}
	if err := v.BindPFlags(fs); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if file := v.GetString("config"); file != "" {
		switch ext := strings.TrimPrefix(filepath.Ext(file), "."); ext {
		case "yaml", "yml", "toml":
		default:
			return Config{}, fmt.Errorf("config %s: unknown format %q (use .yaml, .yml or .toml)", file, ext)
		}
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", file, err)
		}
	}
	var c Config
	// UnmarshalExact refuses keys the Config does not have (a typo in the
	// config file is an error, not a silently ignored setting).
	if err := v.UnmarshalExact(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if file := v.GetString("config"); file != "" {
		resolveFromFile(&c, file, func(key string) bool {
			inEnv := os.Getenv(envName(key)) != "" // viper ignores empty variables
			return v.InConfig(key) && !inEnv && !(fs.Lookup(key) != nil && fs.Changed(key))
		})
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// envName is the CHRONIK_* environment variable of a config key.
func envName(key string) string {
	return "CHRONIK_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(key))
}

// resolveFromFile makes the relative paths a config file sets relative to
// that file's directory, so that `chronik --config dir/node1.yaml` means the
// same from any working directory. Paths given as flags or environment
// variables stay relative to the working directory, as on any command line.
// fromFile reports whether the file set a key (and nothing overrode it).
// The paths are data-dir, plugin-dir, and metadata when it names a plugin
// file (it contains a path separator).
func resolveFromFile(c *Config, file string, fromFile func(key string) bool) {
	dir := filepath.Dir(file)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	for _, p := range []struct {
		key  string
		v    *string
		path bool
	}{
		{"data-dir", &c.DataDir, true},
		{"plugin-dir", &c.PluginDir, true},
		{"metadata", &c.Metadata, strings.ContainsRune(c.Metadata, filepath.Separator)},
	} {
		if p.path && *p.v != "" && !filepath.IsAbs(*p.v) && fromFile(p.key) {
			*p.v = filepath.Join(dir, *p.v)
		}
	}
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	lvl, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
