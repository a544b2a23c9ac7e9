package etcdmeta

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Name and Version identify the backend in Info and in the plugin Factory.
const (
	Name    = "etcd"
	Version = "0.1.0"
)

// Capabilities are what the etcd backend implements: the state lives in
// etcd, so it survives every chronik node's restart (persistence), any number
// of chronik nodes share it (multi-node), it keeps working while a minority
// of etcd members is down (failover), and it implements metadata.Compactor
// and metadata.TopicUpdater (topic updates).
var Capabilities = []metadata.Capability{
	metadata.CapPersistence, metadata.CapMultiNode, metadata.CapFailover, metadata.CapCompact,
	metadata.CapTopicUpdates,
}

// Defaults of Config.
const (
	DefaultPrefix         = "/chronik/"
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMaxTxnOps is etcd's default --max-txn-ops.
	DefaultMaxTxnOps = 128
	// DefaultMaxRequestBytes is etcd's default --max-request-bytes (1.5 MiB).
	DefaultMaxRequestBytes = 1572864
)

// Setting keys of metadata.Config.Settings understood by ConfigFromMetadata.
// Keys without the "etcd." prefix are ignored (they belong to someone
// else); an unknown "etcd." key is an error, so that a typo does not go
// unnoticed.
const (
	SettingEndpoints       = "etcd.endpoints"         // comma-separated host:port or URLs; required
	SettingPrefix          = "etcd.prefix"            // key prefix of the cluster, ends with "/"
	SettingDialTimeout     = "etcd.dial-timeout"      // Go duration
	SettingRequestTimeout  = "etcd.request-timeout"   // Go duration
	SettingCAFile          = "etcd.ca-file"           // PEM CA bundle to verify etcd's certificate
	SettingCertFile        = "etcd.cert-file"         // PEM client certificate
	SettingKeyFile         = "etcd.key-file"          // PEM client key
	SettingUsername        = "etcd.username"          // etcd user (auth enabled)
	SettingPassword        = "etcd.password"          // its password
	SettingMaxTxnOps       = "etcd.max-txn-ops"       // the server's --max-txn-ops
	SettingMaxRequestBytes = "etcd.max-request-bytes" // the server's --max-request-bytes
)

var settingKeys = []string{
	SettingEndpoints, SettingPrefix, SettingDialTimeout, SettingRequestTimeout,
	SettingCAFile, SettingCertFile, SettingKeyFile, SettingUsername, SettingPassword,
	SettingMaxTxnOps, SettingMaxRequestBytes,
}

// Config configures one chronik node's etcd backend.
type Config struct {
	// NodeID is this chronik node's id (Info.NodeID). May be empty.
	NodeID string
	// Endpoints are the etcd client endpoints, "host:port" or URLs
	// ("https://host:port" asks for TLS). Required.
	Endpoints []string
	// Prefix is the key prefix of this chronik cluster, ending with "/":
	// every key the backend reads or writes starts with it, so several
	// clusters can share one etcd. Prefixes of two clusters must not be
	// prefixes of one another.
	Prefix string
	// DialTimeout bounds connecting (and authenticating) to etcd.
	DialTimeout time.Duration
	// RequestTimeout bounds every call, also when the caller's context has
	// no deadline: with no etcd quorum a call fails with
	// metadata.ErrUnavailable after at most this long.
	RequestTimeout time.Duration
	// CAFile, CertFile and KeyFile configure TLS: CAFile verifies etcd's
	// certificate (system roots when empty), CertFile and KeyFile (both or
	// neither) authenticate this client. Any of them, or an https endpoint,
	// turns TLS on.
	CAFile, CertFile, KeyFile string
	// Username and Password authenticate to etcd (both or neither).
	Username, Password string
	// SessionTimeout is the broker session timeout; zero means
	// metadata.DefaultSessionTimeout. etcd leases count whole seconds, so it
	// is rounded up to a whole number of seconds (and etcd may raise it to
	// its minimum lease TTL); Heartbeat reports the effective value.
	SessionTimeout time.Duration
	// MaxTxnOps and MaxRequestBytes must not exceed the etcd server's
	// --max-txn-ops and --max-request-bytes; they bound the transaction
	// that creates a topic. Zero means the etcd defaults.
	MaxTxnOps       int
	MaxRequestBytes int
	// Logger receives the backend's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default spelled out and no
// endpoints.
func DefaultConfig() Config {
	return Config{
		Prefix:          DefaultPrefix,
		DialTimeout:     DefaultDialTimeout,
		RequestTimeout:  DefaultRequestTimeout,
		SessionTimeout:  metadata.DefaultSessionTimeout,
		MaxTxnOps:       DefaultMaxTxnOps,
		MaxRequestBytes: DefaultMaxRequestBytes,
	}
}

// Validate reports a Config that New would refuse, wrapping
// metadata.ErrInvalid, with the setting key to fix.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("etcdmeta: config: %s: %w", fmt.Sprintf(format, args...), metadata.ErrInvalid)
	}
	if len(c.Endpoints) == 0 {
		return bad("no etcd endpoints (%s, e.g. \"h1:2379,h2:2379,h3:2379\")", SettingEndpoints)
	}
	for _, ep := range c.Endpoints {
		if err := checkEndpoint(ep); err != nil {
			return bad("%s: endpoint %q: %v", SettingEndpoints, ep, err)
		}
	}
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		return bad("%s %q must end with \"/\"", SettingPrefix, c.Prefix)
	}
	if c.DialTimeout < 0 {
		return bad("%s: negative %v", SettingDialTimeout, c.DialTimeout)
	}
	if c.RequestTimeout < 0 {
		return bad("%s: negative %v", SettingRequestTimeout, c.RequestTimeout)
	}
	if c.SessionTimeout < 0 {
		return bad("negative session timeout %v", c.SessionTimeout)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return bad("%s and %s go together (got cert %q, key %q)", SettingCertFile, SettingKeyFile, c.CertFile, c.KeyFile)
	}
	if (c.Username == "") != (c.Password == "") {
		return bad("%s and %s go together", SettingUsername, SettingPassword)
	}
	if c.MaxTxnOps != 0 && c.MaxTxnOps < 3 {
		return bad("%s %d: etcd needs at least 3", SettingMaxTxnOps, c.MaxTxnOps)
	}
	if c.MaxRequestBytes != 0 && c.MaxRequestBytes < 4096 {
		return bad("%s %d: below 4096", SettingMaxRequestBytes, c.MaxRequestBytes)
	}
	return nil
}

// checkEndpoint accepts host:port and http(s)://host:port.
func checkEndpoint(ep string) error {
	rest := ep
	if s, ok := strings.CutPrefix(ep, "http://"); ok {
		rest = s
	} else if s, ok := strings.CutPrefix(ep, "https://"); ok {
		rest = s
	} else if strings.Contains(ep, "://") {
		return fmt.Errorf("scheme must be http or https")
	}
	rest = strings.TrimSuffix(rest, "/")
	i := strings.LastIndex(rest, ":")
	if i <= 0 {
		return fmt.Errorf("want host:port")
	}
	if p, err := strconv.Atoi(rest[i+1:]); err != nil || p <= 0 || p > math.MaxUint16 {
		return fmt.Errorf("bad port %q", rest[i+1:])
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = metadata.DefaultSessionTimeout
	}
	if c.MaxTxnOps == 0 {
		c.MaxTxnOps = DefaultMaxTxnOps
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Endpoints = slices.Clone(c.Endpoints)
	return c
}

// leaseTTL is the session timeout in whole seconds, rounded up.
func (c Config) leaseTTL() int64 {
	s := int64((c.SessionTimeout + time.Second - 1) / time.Second)
	return max(s, 1)
}

// ConfigFromMetadata builds a Config from a plugin's metadata.Config: the
// node id and session timeout, and the etcd.* settings (see the Setting
// constants). Peers and DataDir are not used: the etcd cluster is the
// quorum. Bad or missing settings fail with metadata.ErrInvalid naming the
// key.
func ConfigFromMetadata(mc metadata.Config) (Config, error) {
	c := DefaultConfig()
	c.NodeID = mc.NodeID
	c.SessionTimeout = mc.EffectiveSessionTimeout()
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("etcdmeta: setting %s: %s: %w", key, fmt.Sprintf(format, args...), metadata.ErrInvalid)
	}
	for key, val := range mc.Settings {
		if !strings.HasPrefix(key, "etcd.") {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case SettingEndpoints:
			c.Endpoints = nil
			for ep := range strings.SplitSeq(val, ",") {
				if ep = strings.TrimSpace(ep); ep != "" {
					c.Endpoints = append(c.Endpoints, ep)
				}
			}
		case SettingPrefix:
			c.Prefix = val
			if val == "" {
				return Config{}, bad(key, "empty (the default is %q)", DefaultPrefix)
			}
		case SettingDialTimeout, SettingRequestTimeout:
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return Config{}, bad(key, "%q is not a positive duration such as 5s", val)
			}
			if key == SettingDialTimeout {
				c.DialTimeout = d
			} else {
				c.RequestTimeout = d
			}
		case SettingCAFile:
			c.CAFile = val
		case SettingCertFile:
			c.CertFile = val
		case SettingKeyFile:
			c.KeyFile = val
		case SettingUsername:
			c.Username = val
		case SettingPassword:
			c.Password = mc.Settings[key] // passwords keep their spaces
		case SettingMaxTxnOps, SettingMaxRequestBytes:
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return Config{}, bad(key, "%q is not a positive integer", val)
			}
			if key == SettingMaxTxnOps {
				c.MaxTxnOps = n
			} else {
				c.MaxRequestBytes = n
			}
		default:
			return Config{}, bad(key, "unknown setting; known: %s", strings.Join(settingKeys, ", "))
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
