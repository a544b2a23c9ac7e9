// Package metadata is the contract between a chronik broker and its
// cluster-metadata backend.
//
// A Backend stores the low-rate control state of a chronik cluster: which
// brokers exist and are alive, which topics exist, which broker leads each
// partition and which replicas are in sync, and the producer-id counter. It is
// a replicated, linearizable store with a change feed. High-rate state (records,
// high watermarks, committed offsets, group membership) never goes through it.
//
// Every backend meets the same semantics, proven by the conformance suite
// (module github.com/chronik-go/chronik/conformance):
//
//  1. Revisions. Every committed change has a Revision, strictly increasing
//     and never reused, also across restarts. Revisions need not be
//     contiguous (a Raft log index or an etcd revision may skip numbers).
//  2. List + watch. Snapshot returns the whole State at a revision R;
//     Watch(R) then delivers every later change exactly once, in revision
//     order, with no gaps, identically on every node. A resume point that is
//     no longer available fails with ErrCompacted; the caller re-snapshots.
//  3. Linearizability. After a write returns on node A, a Snapshot started
//     afterwards on node B includes it.
//  4. Broker identity and epochs, see RegisterBroker.
//  5. Liveness: sessions, heartbeats and fencing, see Heartbeat.
//  6. Partition state changes by compare-and-set, see AlterPartition.
//  7. Errors are the sentinels of this package, matched with errors.Is, and
//     every call honours its context: with no quorum a call fails with
//     ErrUnavailable by its deadline. It never hangs and never half-succeeds.
//  8. Cluster identity. Every Snapshot carries the cluster's id
//     (State.ClusterID, Kafka's 22-character format), created once when the
//     cluster forms and the same on every node and across restarts.
//
// Typical use by a broker:
//
//	st, err := b.Snapshot(ctx)          // the whole state at st.Revision
//	ch, err := b.Watch(ctx, st.Revision) // every change after it
//	for batch := range ch {
//		if batch.Err != nil { /* ErrCompacted: re-snapshot; else retry */ }
//		st.Apply(batch)
//	}
//
// Backends run out of process behind hashicorp/go-plugin; see the parent
// package plugins for Serve (plugin side) and Load (host side).
package metadata
