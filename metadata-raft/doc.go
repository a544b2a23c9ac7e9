// Package raftmeta is the embedded Raft metadata backend of chronik: a
// metadata.Backend (with metadata.Compactor, metadata.Membership and
// metadata.TopicUpdater) on github.com/hashicorp/raft, with the Raft log
// and stable store in a BoltDB file (raft-boltdb/v2) and snapshots in
// files, all in the node's data directory. It is chronik's default backend; chronik runs it as a plugin
// subprocess of its own binary (Factory).
//
// # Use
//
//	n, err := raftmeta.Open(ctx, metadata.Config{
//		NodeID:  "1",
//		DataDir: "/var/lib/chronik/meta",
//		Peers: []metadata.Peer{
//			{ID: "1", Address: "10.0.0.1:9093"},
//			{ID: "2", Address: "10.0.0.2:9093"},
//			{ID: "3", Address: "10.0.0.3:9093"},
//		},
//	}, logger)
//	defer n.Close()
//	st, err := n.Snapshot(ctx)
//
// Every node is given the same peer list (ParsePeers reads the
// "1@host:port,2@host:port" form); each Peer.Address is that node's
// advertised Raft address. A node with an empty data directory bootstraps
// the cluster from the list; a node with Raft state never bootstraps again
// and ignores the list (change membership with AddMember/RemoveMember). One
// node with itself as the only peer is a single-node cluster.
//
// # Settings
//
// metadata.Config.Settings keys (all optional; an unknown "raft." key is
// refused, keys outside that namespace are ignored with a warning):
//
//	raft.bind                 address to listen on, if not the advertised
//	                          one (e.g. 0.0.0.0:9093)
//	raft.bootstrap            "false" for a node that joins an existing
//	                          cluster: it starts empty and waits for an
//	                          AddMember naming it (default true)
//	raft.heartbeat-timeout    follower's leader-loss timeout (500ms)
//	raft.election-timeout     candidate's election timeout (500ms)
//	raft.leader-lease-timeout leader steps down after this long without
//	                          a quorum (500ms, at most heartbeat-timeout)
//	raft.commit-timeout       idle leader's AppendEntries period, which is
//	                          how soon followers learn a commit (5ms)
//	raft.history              changes kept in memory for Watch (4096)
//	raft.snapshot-threshold   log entries between snapshots (8192)
//	raft.snapshot-interval    how often the threshold is checked (2m)
//	raft.trailing-logs        log entries kept after a snapshot (10240)
//
// metadata.Config.SessionTimeout is the broker session timeout.
//
// # How it works
//
// Revisions are Raft log indexes: a change's revision is the index of its
// command, a broker's epoch the index of its registration, and a
// Snapshot's revision the index of the last applied command (which need
// not be a change). Commands are versioned JSON records carrying a request
// id (see command.go); the FSM remembers recent request ids, so a write
// retried after an unknown outcome never applies twice.
//
// Writes go to the leader: a follower forwards them over a small gRPC
// service multiplexed on the Raft port (see mux.go and forward.go), so each
// node needs one address. While there is no leader a call retries until
// its context ends, then fails with metadata.ErrUnavailable. Snapshot is
// linearizable from any node: the leader confirms its leadership
// (VerifyLeader) and names the index of its last applied command; the node
// waits until it has applied that index. Watch streams the node's own
// applied changes from an in-memory history.
//
// Broker sessions are held by the leader, in memory: heartbeats are
// forwarded to it; it fences an expired session by committing a fence
// command, one at a time; a new leader first applies everything committed
// before it, then gives every live session a full timeout from then (see
// sessions.activate).
//
// The forwarding service and the Raft transport are plaintext and
// unauthenticated: run the cluster on a trusted network.
//
// # Storage
//
// The log and stable store is raft-boltdb/v2 (one BoltDB file, raft.db);
// snapshots are raft's file snapshot store (snapshots/, two kept). It was
// chosen over hashicorp/raft-wal after a benchmark (internal/storebench):
// the WAL commits about twice as fast on one node (~0.13 ms against ~0.3
// ms per fsynced Apply here), which is invisible beside a replicated
// commit for a log of a few writes per second, while BoltDB is the store
// HashiCorp's products have run for years (raft-wal calls itself
// experimental), opens in constant time after a crash, and keeps a small
// file (raft-wal preallocates 64 MiB segments). Both recovered every
// acknowledged entry after SIGKILL. The price is raft v1.7.3: raft-boltdb/v2
// v2.3.1 does not build with raft v1.8.0 (go-metrics v0.7 dropped the
// compat package it imports).
//
// Raft's pipelined replication is disabled (one AppendEntries in flight per
// follower): in raft v1.7 it can deadlock when a follower rejects an
// append, stalling replication to that follower and hanging Shutdown.
package raftmeta
