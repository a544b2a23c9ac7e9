package raftmeta

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

// Settings keys of metadata.Config.Settings understood by Open. Every key is
// optional. An unknown key in the "raft." namespace is an error (a typo
// must not silently fall back to a default); keys outside it belong to
// other backends and are ignored (Open logs them). See the package
// documentation for their meaning.
const (
	SettingBind              = "raft.bind"
	SettingBootstrap         = "raft.bootstrap"
	SettingHeartbeatTimeout  = "raft.heartbeat-timeout"
	SettingElectionTimeout   = "raft.election-timeout"
	SettingLeaderLease       = "raft.leader-lease-timeout"
	SettingCommitTimeout     = "raft.commit-timeout"
	SettingHistory           = "raft.history"
	SettingSnapshotThreshold = "raft.snapshot-threshold"
	SettingSnapshotInterval  = "raft.snapshot-interval"
	SettingTrailingLogs      = "raft.trailing-logs"
)

// Defaults of the settings.
const (
	DefaultHeartbeatTimeout  = 500 * time.Millisecond
	DefaultElectionTimeout   = 500 * time.Millisecond
	DefaultLeaderLease       = 500 * time.Millisecond
	DefaultCommitTimeout     = 5 * time.Millisecond
	DefaultHistory           = 4096
	DefaultSnapshotThreshold = 8192
	DefaultSnapshotInterval  = 2 * time.Minute
	DefaultTrailingLogs      = 10240
)

// options is a parsed and validated metadata.Config.
type options struct {
	nodeID  string
	dataDir string
	// peers in the order given; self is peers[selfIdx].
	peers []metadata.Peer
	// advertise is this node's Raft address as the other nodes dial it;
	// bind is the address its listener binds (advertise by default).
	advertise string
	bind      string
	bootstrap bool

	sessionTimeout    time.Duration
	heartbeatTimeout  time.Duration
	electionTimeout   time.Duration
	leaderLease       time.Duration
	commitTimeout     time.Duration
	history           int
	snapshotThreshold uint64
	snapshotInterval  time.Duration
	trailingLogs      uint64

	// ignored lists the settings outside the "raft." namespace.
	ignored []string
}

// configError builds the error of an unusable configuration. It wraps
// metadata.ErrInvalid.
func configError(format string, args ...any) error {
	return fmt.Errorf("raftmeta: config: %s: %w", fmt.Sprintf(format, args...), metadata.ErrInvalid)
}

// parseConfig validates cfg and fills in the defaults. Errors wrap
// metadata.ErrInvalid and name the offending field or setting.
func parseConfig(cfg metadata.Config) (options, error) {
	o := options{
		nodeID:            cfg.NodeID,
		sessionTimeout:    cfg.EffectiveSessionTimeout(),
		bootstrap:         true,
		heartbeatTimeout:  DefaultHeartbeatTimeout,
		electionTimeout:   DefaultElectionTimeout,
		leaderLease:       DefaultLeaderLease,
		commitTimeout:     DefaultCommitTimeout,
		history:           DefaultHistory,
		snapshotThreshold: DefaultSnapshotThreshold,
		snapshotInterval:  DefaultSnapshotInterval,
		trailingLogs:      DefaultTrailingLogs,
	}
	if cfg.NodeID == "" {
		return o, configError("node id is empty")
	}
	if cfg.DataDir == "" {
		return o, configError("data dir is empty: the raft backend keeps its log and snapshots on disk")
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return o, configError("data dir %q: %v", cfg.DataDir, err)
	}
	o.dataDir = dir
	if len(cfg.Peers) == 0 {
		return o, configError("no peers: list every node of the cluster, this one (%q) included, as id@host:port", cfg.NodeID)
	}
	ids := map[string]bool{}
	addrs := map[string]string{}
	for i, p := range cfg.Peers {
		if p.ID == "" {
			return o, configError("peer %d has an empty id", i)
		}
		if ids[p.ID] {
			return o, configError("duplicate peer id %q", p.ID)
		}
		ids[p.ID] = true
		if err := checkAddress(p.Address, false); err != nil {
			return o, configError("peer %q: address %q: %v", p.ID, p.Address, err)
		}
		if other, dup := addrs[p.Address]; dup {
			return o, configError("peers %q and %q have the same address %q", other, p.ID, p.Address)
		}
		addrs[p.Address] = p.ID
		if p.ID == cfg.NodeID {
			o.advertise = p.Address
		}
	}
	if o.advertise == "" {
		return o, configError("own node id %q is not among the peers %s", cfg.NodeID, peerIDs(cfg.Peers))
	}
	o.peers = slices.Clone(cfg.Peers)
	o.bind = o.advertise
	if err := o.applySettings(cfg.Settings); err != nil {
		return o, err
	}
	return o, nil
}

func peerIDs(ps []metadata.Peer) string {
	var ids []string
	for _, p := range ps {
		ids = append(ids, strconv.Quote(p.ID))
	}
	return "[" + strings.Join(ids, " ") + "]"
}

// checkAddress checks a host:port address. An advertised address (bind
// false) must name a host the other nodes can dial, so an unspecified IP
// (0.0.0.0, ::) is refused; a bind address may use one.
func checkAddress(addr string, bind bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port: %v", err)
	}
	pn, err := strconv.Atoi(port)
	if err != nil || pn < 0 || pn > 65535 {
		return fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	if bind {
		return nil
	}
	if pn == 0 {
		return fmt.Errorf("port 0 cannot be advertised")
	}
	if host == "" {
		return fmt.Errorf("empty host cannot be advertised")
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		return fmt.Errorf("unspecified address %s cannot be advertised", host)
	}
	return nil
}

// applySettings parses the backend-specific settings into o.
func (o *options) applySettings(settings map[string]string) error {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.TrimSpace(settings[k])
		var err error
		switch k {
		case SettingBind:
			if err = checkAddress(v, true); err == nil {
				o.bind = v
			}
		case SettingBootstrap:
			o.bootstrap, err = strconv.ParseBool(v)
		case SettingHeartbeatTimeout:
			o.heartbeatTimeout, err = parseDuration(v, 5*time.Millisecond)
		case SettingElectionTimeout:
			o.electionTimeout, err = parseDuration(v, 5*time.Millisecond)
		case SettingLeaderLease:
			o.leaderLease, err = parseDuration(v, 5*time.Millisecond)
		case SettingCommitTimeout:
			o.commitTimeout, err = parseDuration(v, time.Millisecond)
		case SettingSnapshotInterval:
			o.snapshotInterval, err = parseDuration(v, 5*time.Millisecond)
		case SettingHistory:
			o.history, err = parseInt(v, 1)
		case SettingSnapshotThreshold:
			var n int
			n, err = parseInt(v, 1)
			o.snapshotThreshold = uint64(n)
		case SettingTrailingLogs:
			var n int
			n, err = parseInt(v, 0)
			o.trailingLogs = uint64(n)
		default:
			if !strings.HasPrefix(k, "raft.") {
				o.ignored = append(o.ignored, k)
				continue
			}
			return configError("unknown setting %q (known: %s)", k, strings.Join(knownSettings(), ", "))
		}
		if err != nil {
			return configError("setting %s=%q: %v", k, settings[k], err)
		}
	}
	if _, ok := settings[SettingLeaderLease]; !ok && o.leaderLease > o.heartbeatTimeout {
		o.leaderLease = o.heartbeatTimeout
	}
	if _, ok := settings[SettingElectionTimeout]; !ok && o.electionTimeout < o.heartbeatTimeout {
		o.electionTimeout = o.heartbeatTimeout
	}
	if o.leaderLease > o.heartbeatTimeout {
		return configError("%s (%v) is longer than %s (%v)", SettingLeaderLease, o.leaderLease, SettingHeartbeatTimeout, o.heartbeatTimeout)
	}
	if o.electionTimeout < o.heartbeatTimeout {
		return configError("%s (%v) is shorter than %s (%v)", SettingElectionTimeout, o.electionTimeout, SettingHeartbeatTimeout, o.heartbeatTimeout)
	}
	return nil
}

func knownSettings() []string {
	return []string{SettingBind, SettingBootstrap, SettingHeartbeatTimeout, SettingElectionTimeout,
		SettingLeaderLease, SettingCommitTimeout, SettingHistory, SettingSnapshotThreshold,
		SettingSnapshotInterval, SettingTrailingLogs}
}

func parseDuration(v string, min time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < min {
		return 0, fmt.Errorf("below the minimum %v", min)
	}
	return d, nil
}

func parseInt(v string, min int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, err
	}
	if n < min {
		return 0, fmt.Errorf("below the minimum %d", min)
	}
	return n, nil
}

// ParsePeers parses a peer list of the form "1@host:port,2@host:port" (the
// form of chronik's --metadata-peers flag) into metadata.Peers. It checks
// only the syntax; Open checks the rest. Errors wrap metadata.ErrInvalid.
func ParsePeers(s string) ([]metadata.Peer, error) {
	var out []metadata.Peer
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "@")
		if !ok || id == "" || addr == "" {
			return nil, configError("peer %d %q is not id@host:port", i, part)
		}
		if err := checkAddress(addr, false); err != nil {
			return nil, configError("peer %q: address %q: %v", id, addr, err)
		}
		out = append(out, metadata.Peer{ID: id, Address: addr})
	}
	if len(out) == 0 {
		return nil, configError("empty peer list %q", s)
	}
	return out, nil
}
