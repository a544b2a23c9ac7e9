package raftmeta

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chronik-go/chronik/plugins/metadata"
)

func TestParseConfigErrors(t *testing.T) {
	dir := t.TempDir()
	peers := []metadata.Peer{{ID: "1", Address: "127.0.0.1:9001"}, {ID: "2", Address: "127.0.0.1:9002"}}
	base := func() metadata.Config {
		return metadata.Config{NodeID: "1", DataDir: dir, Peers: peers}
	}
	tests := []struct {
		name string
		mod  func(*metadata.Config)
		want string // substring of the error
	}{
		{"empty node id", func(c *metadata.Config) { c.NodeID = "" }, "node id is empty"},
		{"missing data dir", func(c *metadata.Config) { c.DataDir = "" }, "data dir is empty"},
		{"no peers", func(c *metadata.Config) { c.Peers = nil }, "no peers"},
		{"own id not in peers", func(c *metadata.Config) { c.NodeID = "3" }, `own node id "3" is not among the peers ["1" "2"]`},
		{"duplicate ids", func(c *metadata.Config) {
			c.Peers = []metadata.Peer{{ID: "1", Address: "127.0.0.1:9001"}, {ID: "1", Address: "127.0.0.1:9002"}}
		}, `duplicate peer id "1"`},
		{"duplicate addresses", func(c *metadata.Config) {
			c.Peers = []metadata.Peer{{ID: "1", Address: "127.0.0.1:9001"}, {ID: "2", Address: "127.0.0.1:9001"}}
		}, "same address"},
		{"empty peer id", func(c *metadata.Config) { c.Peers = []metadata.Peer{{ID: "", Address: "127.0.0.1:9001"}} }, "empty id"},
		{"address without port", func(c *metadata.Config) { c.Peers = []metadata.Peer{{ID: "1", Address: "localhost"}} }, "not host:port"},
		{"address with bad port", func(c *metadata.Config) { c.Peers = []metadata.Peer{{ID: "1", Address: "localhost:http"}} }, "not a number"},
		{"address with port out of range", func(c *metadata.Config) { c.Peers = []metadata.Peer{{ID: "1", Address: "localhost:70000"}} }, "not a number"},
		{"advertised port 0", func(c *metadata.Config) { c.Peers = []metadata.Peer{{ID: "1", Address: "localhost:0"}} }, "port 0"},
		{"advertised unspecified address", func(c *metadata.Config) { c.Peers = []metadata.Peer{{ID: "1", Address: "0.0.0.0:9001"}} }, "unspecified address"},
		{"advertised empty host", func(c *metadata.Config) { c.Peers = []metadata.Peer{{ID: "1", Address: ":9001"}} }, "empty host"},
		{"unknown setting", func(c *metadata.Config) { c.Settings = map[string]string{"raft.hearbeat-timeout": "1s"} }, `unknown setting "raft.hearbeat-timeout"`},
		{"bad duration", func(c *metadata.Config) { c.Settings = map[string]string{SettingHeartbeatTimeout: "soon"} }, "raft.heartbeat-timeout"},
		{"duration too low", func(c *metadata.Config) { c.Settings = map[string]string{SettingCommitTimeout: "10us"} }, "below the minimum"},
		{"bad bind", func(c *metadata.Config) { c.Settings = map[string]string{SettingBind: "nowhere"} }, "raft.bind"},
		{"bad bootstrap", func(c *metadata.Config) { c.Settings = map[string]string{SettingBootstrap: "maybe"} }, "raft.bootstrap"},
		{"bad history", func(c *metadata.Config) { c.Settings = map[string]string{SettingHistory: "0"} }, "raft.history"},
		{"lease longer than heartbeat", func(c *metadata.Config) {
			c.Settings = map[string]string{SettingHeartbeatTimeout: "100ms", SettingLeaderLease: "200ms"}
		}, "raft.leader-lease-timeout (200ms) is longer"},
		{"election shorter than heartbeat", func(c *metadata.Config) {
			c.Settings = map[string]string{SettingHeartbeatTimeout: "1s", SettingElectionTimeout: "200ms"}
		}, "raft.election-timeout (200ms) is shorter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mod(&cfg)
			_, err := parseConfig(cfg)
			if err == nil {
				t.Fatalf("parseConfig accepted %+v", cfg)
			}
			if !errors.Is(err, metadata.ErrInvalid) {
				t.Errorf("error %v does not match metadata.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			// Open reports the same error and starts nothing.
			if _, err := Open(context.Background(), cfg, nil); !errors.Is(err, metadata.ErrInvalid) {
				t.Errorf("Open: %v, want metadata.ErrInvalid", err)
			}
		})
	}
}

func TestParseConfigDefaultsAndSettings(t *testing.T) {
	cfg := metadata.Config{NodeID: "b", DataDir: "rel/dir", Peers: []metadata.Peer{
		{ID: "a", Address: "10.0.0.1:9093"}, {ID: "b", Address: "node-b.example:9093"},
	}}
	o, err := parseConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.advertise != "node-b.example:9093" || o.bind != o.advertise || !o.bootstrap {
		t.Errorf("advertise %q bind %q bootstrap %v", o.advertise, o.bind, o.bootstrap)
	}
	if !strings.HasSuffix(o.dataDir, "/rel/dir") || !strings.HasPrefix(o.dataDir, "/") {
		t.Errorf("data dir %q not made absolute", o.dataDir)
	}
	if o.sessionTimeout != metadata.DefaultSessionTimeout || o.heartbeatTimeout != DefaultHeartbeatTimeout ||
		o.commitTimeout != DefaultCommitTimeout || o.history != DefaultHistory {
		t.Errorf("defaults not applied: %+v", o)
	}

	cfg.SessionTimeout = 3 * time.Second
	cfg.Settings = map[string]string{
		"etcd.prefix":            "/other-backend",
		SettingBind:              "0.0.0.0:9093",
		SettingBootstrap:         "false",
		SettingHeartbeatTimeout:  "100ms",
		SettingCommitTimeout:     " 2ms ",
		SettingHistory:           "10",
		SettingSnapshotThreshold: "64",
		SettingSnapshotInterval:  "1s",
		SettingTrailingLogs:      "0",
	}
	o, err = parseConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.bind != "0.0.0.0:9093" || o.bootstrap || o.sessionTimeout != 3*time.Second || o.heartbeatTimeout != 100*time.Millisecond ||
		o.commitTimeout != 2*time.Millisecond || o.history != 10 || o.snapshotThreshold != 64 || o.snapshotInterval != time.Second || o.trailingLogs != 0 {
		t.Errorf("settings not applied: %+v", o)
	}
	if len(o.ignored) != 1 || o.ignored[0] != "etcd.prefix" {
		t.Errorf("ignored settings %v, want [etcd.prefix]", o.ignored)
	}
	// A shorter heartbeat timeout pulls the default lease and election
	// timeout along.
	if o.leaderLease != 100*time.Millisecond || o.electionTimeout != DefaultElectionTimeout {
		t.Errorf("lease %v election %v", o.leaderLease, o.electionTimeout)
	}
}

func TestParsePeers(t *testing.T) {
	ps, err := ParsePeers(" 1@127.0.0.1:9001, 2@host:9002,3@[::1]:9003 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []metadata.Peer{{ID: "1", Address: "127.0.0.1:9001"}, {ID: "2", Address: "host:9002"}, {ID: "3", Address: "[::1]:9003"}}
	if len(ps) != len(want) {
		t.Fatalf("got %+v", ps)
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("peer %d: got %+v, want %+v", i, ps[i], want[i])
		}
	}
	for _, bad := range []string{"", ",", "1", "@h:1", "1@", "1@host", "1@0.0.0.0:1"} {
		if _, err := ParsePeers(bad); !errors.Is(err, metadata.ErrInvalid) {
			t.Errorf("ParsePeers(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func TestOpenRefusesADataDirInUse(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	conf := c.confs[0]
	conf.Peers = []metadata.Peer{{ID: conf.NodeID, Address: "127.0.0.1:1"}}
	conf.Settings = map[string]string{SettingBind: "127.0.0.1:0"}
	_, err := Open(context.Background(), conf, nil)
	if err == nil || !strings.Contains(err.Error(), "another node") {
		t.Fatalf("second Open of a data dir in use: %v", err)
	}
}
