package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chronik-go/chronik/core/broker"
	"github.com/chronik-go/chronik/core/commitlog"
	"github.com/chronik-go/chronik/plugins"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// runBroker runs one broker until ctx ends (SIGINT/SIGTERM), then shuts it
// down cleanly.
func runBroker(cmd *cobra.Command, _ []string) error {
	c, err := loadConfig(cmd.Root().PersistentFlags())
	if err != nil {
		return err
	}
	logger := newLogger(c, cmd.ErrOrStderr())
	ctx := cmd.Context()

	bcfg, mcfg, err := brokerConfigs(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(mcfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data-dir: %w", err)
	}
	path, args, err := backendCommand(c.Metadata, c.PluginDir)
	if err != nil {
		return err
	}
	loadCtx, cancel := context.WithTimeout(ctx, plugins.DefaultStartTimeout)
	backend, err := plugins.Load(loadCtx, plugins.HostConfig{
		Path: path, Args: args, Name: c.Metadata, Config: mcfg,
		Logger: logger.With("component", "metadata"),
	})
	cancel()
	if err != nil {
		return fmt.Errorf("starting the %s metadata backend: %w", c.Metadata, err)
	}
	defer backend.Close()

	b, err := broker.New(bcfg, backend, logger)
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		return err
	}
	logger.Info("chronik is listening", "kafka", b.Addr(), "http", b.HTTPAddr(), "metadata", c.Metadata, "data_dir", c.DataDir)
	<-ctx.Done()
	logger.Info("shutting down")
	if err := b.Close(); err != nil {
		// Typically the controlled-shutdown unregister could not commit
		// (the last nodes of a stopping cluster have no quorum): the
		// session then simply expires. Nothing acknowledged is at stake.
		logger.Warn("shutdown was not clean", "error", err)
	}
	return nil
}

// brokerConfigs turns the binary's Config into the broker's and the
// backend node's configurations.
func brokerConfigs(c Config) (broker.Config, metadata.Config, error) {
	bcfg := broker.DefaultConfig()
	bcfg.BrokerID = c.BrokerID
	bcfg.Rack = c.Rack
	bcfg.DataDir = filepath.Join(c.DataDir, "kafka")
	bcfg.HTTPAddr = c.HTTP
	bcfg.HTTPPprof = c.HTTPPprof
	bcfg.Server.ListenAddrs = []string{c.Listen}
	bcfg.Server.AdvertisedAddr = c.Advertised
	bcfg.Partition.Log.Flush, _ = commitlog.ParseFlushPolicy(c.Flush) // validated by loadConfig
	bcfg.Partition.Log.FlushInterval = c.FlushInterval
	bcfg.Protocol.AutoCreateTopics = c.AutoCreateTopics
	bcfg.Protocol.DefaultPartitions = c.DefaultPartitions
	bcfg.Protocol.DefaultReplicationFactor = c.DefaultReplicationFactor
	bcfg.Group = c.groupConfig()
	bcfg.Replica = c.replicaConfig()
	if err := bcfg.Validate(); err != nil {
		return bcfg, metadata.Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}

	node := strconv.Itoa(int(c.BrokerID))
	peers, err := parsePeers(c.MetadataPeers)
	if err != nil {
		return bcfg, metadata.Config{}, err
	}
	if len(peers) == 0 && c.MetadataAddress != "" {
		peers = []metadata.Peer{{ID: node, Address: c.MetadataAddress}}
	}
	settings := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			settings[k] = v
		}
	}
	set("raft.bind", c.RaftBind)
	set("etcd.endpoints", c.EtcdEndpoints)
	set("etcd.prefix", c.EtcdPrefix)
	for _, kv := range c.Settings {
		k, v, _ := strings.Cut(kv, "=")
		settings[k] = v
	}
	if c.Metadata != "raft" {
		delete(settings, "raft.bind")
	}
	mcfg := metadata.Config{
		NodeID:         node,
		DataDir:        filepath.Join(c.DataDir, "metadata"),
		Peers:          peers,
		SessionTimeout: c.SessionTimeout,
		Settings:       settings,
	}
	return bcfg, mcfg, nil
}

// parsePeers reads "1@host:port,2@host:port". Empty: none.
func parsePeers(s string) ([]metadata.Peer, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []metadata.Peer
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(item), "@")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("metadata.peers: %q is not id@host:port", item)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("metadata.peers: %q: %w", item, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("metadata.peers: node id %s appears twice", id)
		}
		seen[id] = true
		out = append(out, metadata.Peer{ID: id, Address: addr})
	}
	return out, nil
}
