// Package memory is the in-memory reference backend of the chronik metadata
// contract (package metadata).
//
// It exists for two reasons: it is the template a third-party backend author
// copies (see plugins/examples/chronik-metadata-memory), and it is the
// conformance suite's self-test. It keeps nothing on disk, has a single
// copy of the state and no failover: it is never a production default.
//
// # Direct use
//
// A Store is a metadata.Backend and metadata.Compactor held in this process:
//
//	st, err := memory.NewStore(memory.Config{NodeID: "0", SessionTimeout: time.Second})
//	defer st.Close()
//	n1 := st.Node("1")          // another "node" of the same cluster
//	defer n1.Close()            // closes only the handle
//
// Every committed change gets the next revision (a counter); the last
// Config.HistoryLimit batches are kept for Watch, older resume points fail
// with metadata.ErrCompacted. Each watcher has its own goroutine reading a
// cursor over that history, so a slow watcher never blocks a writer nor
// another watcher; a watcher that falls further behind than the history
// ends with an Err batch (ErrCompacted). One goroutine, the session reaper,
// fences expired broker sessions, one per committed change. NewStore
// generates the cluster id (metadata.NewClusterID); every handle's Snapshot
// carries it, and a new Store (a restarted holder) is a new cluster with a
// new id.
//
// # Plugin mode
//
// New builds a node from a metadata.Config (the plugin's Configure call),
// and Factory is what a plugin main passes to plugins.Serve. Several plugin
// processes form ONE cluster: the node whose NodeID is Peers[0].ID holds
// the Store and serves it over gRPC on Peers[0].Address; every other node is
// a plugins.Client of that address. The gRPC between the nodes is plaintext
// and unauthenticated — fine for loopback tests, not for production. When
// the holder is down, the other nodes fail every call with
// metadata.ErrUnavailable; a restarted holder starts with an empty state.
//
// Settings keys (metadata.Config.Settings), all optional:
//
//	history            batches of change history kept for Watch (default 4096)
//	initial-revision   revision of the empty state; "clock" (the default in
//	                   plugin mode) uses the wall clock in nanoseconds so that
//	                   a restarted holder never reuses a revision, or a
//	                   non-negative integer
//
// What the memory backend does not do: it does not persist (no
// CapPersistence) and it does not fail over (no CapFailover), so the
// contract's "after a leader change every session gets a full timeout
// again" never applies.
package memory
